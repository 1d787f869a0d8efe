// QmpClient against a real QEMU 7.2 (TCG, q35, -S: no guest kernel needed). What needs a guest OS is
// not covered here: device_del completes only when the guest acknowledges the unplug (DEVICE_DELETED),
// and system_powerdown only when a guest handles ACPI; those run in the VM tests with a real kernel.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "common/fs.h"
#include "kata-vmmd/qmp_client.h"

extern char** environ;

namespace kata::vmmd {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class RealQemu : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kata-qmp-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    socket_ = dir_ + "/qmp.sock";
    std::vector<std::string> args = {
        "qemu-system-x86_64", "-accel", "tcg", "-machine", "q35", "-nodefaults", "-nographic", "-S",
        "-m", "128M", "-device", "pcie-root-port,id=rp0,bus=pcie.0,chassis=1",
        "-qmp", "unix:" + socket_ + ",server=on,wait=off"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, (dir_ + "/qemu.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    ASSERT_EQ(posix_spawnp(&pid_, "qemu-system-x86_64", &fa, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    pidfd_ = UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
    ASSERT_TRUE(pidfd_.valid());
  }
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    removeTree(AT_FDCWD, dir_);
  }
  // Waits on the pidfd for QEMU to exit; true when it did before the deadline.
  bool waitExit(std::chrono::milliseconds ms, int* status) {
    struct pollfd p {pidfd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(ms.count())) != 1) return false;
    EXPECT_EQ(::waitpid(pid_, status, 0), pid_);
    pid_ = -1;
    return true;
  }
  std::string dir_, socket_;
  pid_t pid_ = -1;
  UniqueFd pidfd_;
};

bool pciHasDevice(const json& pci, const std::string& qdevId) {
  for (const auto& bus : pci)
    for (const auto& dev : bus.value("devices", json::array())) {
      if (dev.value("qdev_id", "") == qdevId) return true;
      if (dev.contains("pci_bridge") && pciHasDevice(json::array({dev["pci_bridge"]}), qdevId)) return true;
    }
  return false;
}

int secondaryBus(const json& pci, const std::string& port) {
  for (const auto& dev : pci.at(0).value("devices", json::array()))
    if (dev.value("qdev_id", "") == port) return dev["pci_bridge"]["bus"]["secondary"].get<int>();
  return 0;
}

TEST_F(RealQemu, StatusStopContHotplugGetfdQuit) {
  QmpClient qmp = QmpClient::connect(socket_, deadlineIn(20s));
  EXPECT_EQ(qmp.greeting()["QMP"]["version"]["qemu"]["major"], 7);

  auto st = qmp.queryStatus();
  EXPECT_EQ(st.status, "prelaunch");
  EXPECT_FALSE(st.running);

  qmp.cont();
  EXPECT_TRUE(qmp.waitForEvent("RESUME", deadlineIn(5s)).has_value());
  EXPECT_TRUE(qmp.queryStatus().running);
  // query-pci walks buses by number; the firmware (SeaBIOS) numbers the root port's secondary bus
  // once it runs. Until then a device behind the port is invisible to query-pci.
  auto deadline = deadlineIn(20s);
  while (secondaryBus(qmp.queryPci(), "rp0") == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  ASSERT_NE(secondaryBus(qmp.queryPci(), "rp0"), 0) << "firmware never numbered the root port's bus";
  qmp.stop();
  EXPECT_TRUE(qmp.waitForEvent("STOP", deadlineIn(5s)).has_value());
  st = qmp.queryStatus();
  EXPECT_EQ(st.status, "paused");
  EXPECT_FALSE(st.running);

  // An emulated device into the hot-plug root port, seen by query-pci behind the port's bridge.
  EXPECT_FALSE(pciHasDevice(qmp.queryPci(), "rng1"));
  qmp.deviceAdd({{"driver", "virtio-rng-pci"}, {"id", "rng1"}, {"bus", "rp0"}});
  EXPECT_TRUE(pciHasDevice(qmp.queryPci(), "rng1"));
  try {
    qmp.deviceAdd({{"driver", "virtio-rng-pci"}, {"id", "rng1"}, {"bus", "rp0"}});
    FAIL() << "a second device with the same id was accepted";
  } catch (const QmpError& e) {
    EXPECT_EQ(e.errorClass(), "GenericError");
    EXPECT_NE(e.desc().find("rng1"), std::string::npos) << e.desc();
  }

  // getfd: the descriptor shows up in QEMU's fd table.
  std::string marker = dir_ + "/passed-fd-marker";
  UniqueFd f(::open(marker.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(f.valid());
  qmp.getfd("marker", f.get());
  bool found = false;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid_) + "/fd")) {
    std::error_code ec;
    if (std::filesystem::read_symlink(e.path(), ec) == marker) found = true;
  }
  EXPECT_TRUE(found) << "QEMU does not hold the fd passed with getfd";
  qmp.closefd("marker");

  auto mem = qmp.queryMemorySizeSummary();
  EXPECT_EQ(mem.baseMemory, 128u << 20);
  EXPECT_EQ(qmp.queryBalloon(), std::nullopt);

  try {
    qmp.execute("no-such-command");
    FAIL();
  } catch (const QmpError& e) {
    EXPECT_EQ(e.errorClass(), "CommandNotFound");
    EXPECT_EQ(e.kind(), ErrorKind::kNotSupported);
  }

  qmp.quit();
  int status = 0;
  ASSERT_TRUE(waitExit(10s, &status)) << "QEMU did not exit after quit";
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace kata::vmmd
