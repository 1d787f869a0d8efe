// Interim launcher until the OCI set-up pipeline (agent/container/process_init.h) is merged: the
// minimum to run a process in a prepared root (chroot, proc, hostname, ids, cwd, env, PATH lookup).
#include "agent/process_launcher.h"

#include <grp.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "common/error.h"

namespace kata::agent {
namespace {

class InterimLauncher final : public ProcessLauncher {
 public:
  // pivot_root cannot leave the initramfs (the guest's root is rootfs), so the root moves over "/"
  // (runc's --no-pivot): setns(CLONE_NEWNS) looks "/" up with LOOKUP_DOWN, so exec'd processes land
  // in the container's root too.
  void prepareRootfs(const oci::Spec& spec, const std::string& rootfs) override {
    KATA_SYSCALL(::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), "make / private");
    KATA_SYSCALL(::mount(rootfs.c_str(), rootfs.c_str(), nullptr, MS_BIND | MS_REC, nullptr), "bind " + rootfs);
    std::string proc = rootfs + "/proc";
    struct stat st {};
    if (spec.findNamespace("pid") != nullptr && ::stat(proc.c_str(), &st) == 0)
      KATA_SYSCALL(::mount("proc", proc.c_str(), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr), "mount " + proc);
    KATA_SYSCALL(::chdir(rootfs.c_str()), "chdir " + rootfs);
    KATA_SYSCALL(::mount(".", "/", nullptr, MS_MOVE, nullptr), "move " + rootfs + " onto /");
    KATA_SYSCALL(::chroot("."), "chroot " + rootfs);
    KATA_SYSCALL(::chdir("/"), "chdir /");
  }

  [[noreturn]] void exec(const ProcessSetup& setup) override {
    const oci::Process& p = *setup.process;
    if (setup.newUts && setup.spec->hostname)
      KATA_SYSCALL(::sethostname(setup.spec->hostname->data(), setup.spec->hostname->size()), "sethostname");
    std::vector<gid_t> groups;
    if (p.user.additionalGids) groups.assign(p.user.additionalGids->begin(), p.user.additionalGids->end());
    KATA_SYSCALL(::setgroups(groups.size(), groups.data()), "setgroups");
    KATA_SYSCALL(::setresgid(p.user.gid, p.user.gid, p.user.gid), "setresgid " + std::to_string(p.user.gid));
    KATA_SYSCALL(::setresuid(p.user.uid, p.user.uid, p.user.uid), "setresuid " + std::to_string(p.user.uid));
    KATA_SYSCALL(::chdir(p.cwd.c_str()), "chdir " + p.cwd);
    std::vector<std::string> env = p.env.value_or(std::vector<std::string>{});
    std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (const auto& e : env)
      if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
    std::vector<char*> argv, envp;
    auto args = p.args;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    const std::string& file = p.args.at(0);
    if (file.find('/') != std::string::npos) {
      ::execve(file.c_str(), argv.data(), envp.data());
      throwSysError(errno, "exec " + file);
    }
    int err = ENOENT;
    size_t start = 0;
    while (start <= path.size()) {
      size_t end = path.find(':', start);
      if (end == std::string::npos) end = path.size();
      std::string candidate = path.substr(start, end - start) + "/" + file;
      ::execve(candidate.c_str(), argv.data(), envp.data());
      if (errno != ENOENT) err = errno;
      start = end + 1;
    }
    throwSysError(err, "exec " + file + " (searched PATH=" + path + ")");
  }
};

}  // namespace

std::unique_ptr<ProcessLauncher> makeProcessLauncher() { return std::make_unique<InterimLauncher>(); }

}  // namespace kata::agent
