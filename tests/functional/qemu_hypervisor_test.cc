// The QEMU driver end to end without a guest OS: accel auto (TCG here, after the probe), jailed
// launch, pause/resume, hot-plug into a root port, stats, and the stop escalation (system_powerdown
// is ignored without a guest, so quit ends it). Unplug needs a guest to acknowledge: with none, it
// must time out rather than hang.
#include "kata-vmmd/qemu_hypervisor.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"

namespace kata::vmmd {
namespace {

using namespace std::chrono_literals;

TEST(QemuHypervisorReal, LifecycleWithoutGuest) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch the VM's uid";
  char tmpl[] = "/tmp/kata-qh-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  ASSERT_EQ(::chown(dir.c_str(), 65534, 65534), 0);
  {
    UniqueFd k(::open((dir + "/vmlinuz").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    ASSERT_EQ(::ftruncate(k.get(), 8192), 0);
  }
  VmConfig vm;
  vm.id = "qh-test";
  vm.accel = Accel::kAuto;
  vm.vcpus = 1;
  vm.memory.sizeMiB = 128;
  vm.kernel.kernel = dir + "/vmlinuz";
  vm.hotplugSlots = 1;
  vm.runDir = dir;
  QemuDriverOptions opts;
  opts.identity = {65534, 65534, {}, false};
  opts.startPaused = true;
  std::string parent = "kata-qh-" + std::to_string(::getpid());
  opts.cgroup = CgroupSpec{security::CgroupLayout::detect("/sys/fs/cgroup", {"pids"}), parent, {}};
  Logger log(LogOptions{"", LogFormat::kText, LogLevel::kWarn, "vmmd"});
  {
    QemuHypervisor qh(vm, opts, hostArch(), log);
    qh.launch();
    std::cout << "accel chosen: " << accelName(qh.accel()) << "\n";
    EXPECT_EQ(qh.status().state, VmState::kNotStarted);  // CPUs never ran yet
    EXPECT_EQ(qh.status().detail, "prelaunch");
    qh.resume();
    EXPECT_EQ(qh.status().state, VmState::kRunning);
    qh.pause();
    EXPECT_EQ(qh.status().state, VmState::kPaused);

    qh.hotplug(GenericDevice{"rng1", "virtio-rng-pci", {}});
    try {
      qh.hotplug(GenericDevice{"rng2", "virtio-rng-pci", {}});
      FAIL() << "a second device fit into one slot";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kFailedPrecondition);
      EXPECT_NE(std::string(e.what()).find("no free hot-plug slot"), std::string::npos);
    }
    try {
      qh.unplug("rng1", deadlineIn(300ms));
      FAIL() << "unplug completed without a guest to acknowledge it";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kTimeout) << e.what();
    }

    VmStats st = qh.stats();
    EXPECT_EQ(st.memoryBaseBytes, 128u << 20);
    EXPECT_EQ(st.vcpus, 1u);
    EXPECT_FALSE(st.balloonActualBytes.has_value());

    ExitStatus ex = qh.stop(deadlineIn(4s));
    EXPECT_TRUE(ex.exited);
    EXPECT_EQ(ex.code, 0) << "expected QMP quit to end QEMU cleanly";
    EXPECT_EQ(qh.status().state, VmState::kExited);
    EXPECT_FALSE(pathExists("/sys/fs/cgroup/unified/" + parent + "/qh-test"));
    EXPECT_FALSE(pathExists(dir + "/qmp.sock"));
    EXPECT_TRUE(pathExists(dir + "/qemu.log"));
  }
  (void)::rmdir(("/sys/fs/cgroup/unified/" + parent).c_str());
  (void)::rmdir(("/sys/fs/cgroup/pids/" + parent).c_str());
  removeTree(AT_FDCWD, dir);
}

}  // namespace
}  // namespace kata::vmmd
