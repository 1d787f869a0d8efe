#include "tests/support/qemu_vm.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"

namespace kata::test {

std::string defaultGuestImageDir() { return KATA_BINARY_DIR "/guest"; }

std::optional<GuestImage> GuestImage::load(const std::string& dir) {
  auto text = readFileIfExists(AT_FDCWD, dir + "/manifest.json", 1 << 20);
  if (!text) return std::nullopt;
  auto m = nlohmann::json::parse(*text);
  GuestImage img;
  img.dir = dir;
  img.kernel = dir + "/" + m.at("boot").at("kernel").get<std::string>();
  img.initramfs = dir + "/" + m.at("boot").at("initramfs").get<std::string>();
  img.cmdline = m.at("boot").at("cmdline").get<std::string>();
  img.machine = m.at("boot").at("machine").get<std::string>();
  img.channel = m.at("boot").at("agent_channel").get<std::string>();
  img.kernelRelease = m.at("kernel").at("release").get<std::string>();
  img.agentBuildId = m.at("agent").at("build_id").get<std::string>();
  img.modules = m.at("modules").get<std::vector<std::string>>();
  return img;
}

std::unique_ptr<QemuVm> QemuVm::start(const GuestImage& image, const QemuVmOptions& options) {
  std::unique_ptr<QemuVm> vm(new QemuVm());
  char tmpl[] = "/tmp/kata-qemu-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throwSysError(errno, "mkdtemp /tmp/kata-qemu-XXXXXX");
  vm->workDir_ = tmpl;
  vm->agentSocket_ = vm->workDir_ + "/agent.sock";
  vm->consolePath_ = vm->workDir_ + "/console.log";
  vm->qemuLogPath_ = vm->workDir_ + "/qemu.log";
  vm->channel_ = image.channel;

  std::vector<std::string> args = {
      "qemu-system-x86_64",
      "-accel", options.accel,
      "-machine", image.machine,
      "-m", std::to_string(options.memoryMb),
      "-smp", std::to_string(options.cpus),
      "-nodefaults", "-no-user-config", "-display", "none",
      // A guest reboot (or a panic, with panic=-1) ends QEMU instead of booting again.
      "-no-reboot",
      "-kernel", options.kernel.value_or(image.kernel),
      "-initrd", image.initramfs,
      "-append", options.cmdline.value_or(image.cmdline),
      "-serial", "file:" + vm->consolePath_,
      "-chardev", "socket,path=" + vm->agentSocket_ + ",server=on,wait=off,id=agent",
      "-device", "virtio-serial-pci,id=vser0",
      "-device", "virtserialport,chardev=agent,name=" + image.channel,
  };
  for (size_t i = 0; i < options.shares.size(); ++i) {
    const QemuShare& sh = options.shares[i];
    std::string fsdev = "fsdev" + std::to_string(i);
    args.insert(args.end(), {"-fsdev", "local,id=" + fsdev + ",path=" + sh.path + ",security_model=none",
                             "-device", "virtio-9p-pci,fsdev=" + fsdev + ",mount_tag=" + sh.tag});
  }
  args.insert(args.end(), options.extraArgs.begin(), options.extraArgs.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  UniqueFd logFd(KATA_SYSCALL(::open(vm->qemuLogPath_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600),
                              vm->qemuLogPath_));
  vm->startedAt_ = std::chrono::steady_clock::now();
  pid_t pid = KATA_SYSCALL(::fork(), "fork for qemu");
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(logFd.get(), 1);
    ::dup2(logFd.get(), 2);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  vm->pid_ = pid;
  vm->pidfd_ = UniqueFd(static_cast<int>(KATA_SYSCALL(::syscall(SYS_pidfd_open, pid, 0), "pidfd_open qemu")));
  return vm;
}

QemuVm::~QemuVm() {
  try {
    kill();
  } catch (...) {
  }
  if (!workDir_.empty()) {
    try {
      removeTree(AT_FDCWD, workDir_);
    } catch (...) {
    }
  }
}

std::string QemuVm::console() const {
  return readFileIfExists(AT_FDCWD, consolePath_, 16 << 20).value_or("");
}

std::string QemuVm::qemuLog() const {
  return readFileIfExists(AT_FDCWD, qemuLogPath_, 16 << 20).value_or("");
}

std::optional<int> QemuVm::waitExit(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  struct pollfd p = {pidfd_.get(), POLLIN, 0};
  int n = KATA_SYSCALL(::poll(&p, 1, static_cast<int>(timeout.count())), "poll qemu pidfd");
  if (n == 0) return std::nullopt;
  int status = 0;
  KATA_SYSCALL(::waitpid(pid_, &status, 0), "waitpid qemu");
  status_ = status;
  return status_;
}

void QemuVm::kill() {
  if (status_ || pid_ <= 0) return;
  (void)::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
  waitExit(std::chrono::milliseconds(10000));
}

}  // namespace kata::test
