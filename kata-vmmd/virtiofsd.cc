#include "kata-vmmd/virtiofsd.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

#include "common/error.h"
#include "common/fs.h"
#include "security/rlimits.h"
#include "security/validate.h"

namespace kata::vmmd {
namespace {

constexpr size_t kMaxVersionOutput = 4096;

// "7.2.22" from "7.2.22 (Debian ...)": digits and dots only.
std::string versionToken(const std::string& s) {
  size_t n = 0;
  while (n < s.size() && n < 32 && (std::isdigit(static_cast<unsigned char>(s[n])) || s[n] == '.')) ++n;
  return s.substr(0, n);
}

}  // namespace

const char* virtiofsdFlavourName(VirtiofsdFlavour f) { return f == VirtiofsdFlavour::kQemu ? "qemu" : "rust"; }

VirtiofsdVersion parseVirtiofsdVersion(const std::string& output, const std::string& binary) {
  std::string first = output.substr(0, output.find('\n'));
  VirtiofsdVersion v;
  const std::string qemuPrefix = "virtiofsd version ", rustPrefix = "virtiofsd ";
  if (first.rfind(qemuPrefix, 0) == 0 && output.find("QEMU") != std::string::npos) {
    v.flavour = VirtiofsdFlavour::kQemu;
    v.version = versionToken(first.substr(qemuPrefix.size()));
  } else if (first.rfind(rustPrefix, 0) == 0) {
    std::string rest = first.substr(rustPrefix.size());
    if (!rest.empty() && rest[0] == 'v') rest.erase(0, 1);
    v.flavour = VirtiofsdFlavour::kRust;
    v.version = versionToken(rest);
  }
  if (v.version.empty() || !std::isdigit(static_cast<unsigned char>(v.version[0])))
    fail(ErrorKind::kFailedPrecondition,
         "the policy's [vm] virtiofsd " + binary + " is neither QEMU's virtiofsd nor the Rust one: its --version printed " +
             security::quoteForMessage(first.substr(0, 200)) +
             "; set [vm] virtiofsd to one of them (Debian 12: /usr/lib/qemu/virtiofsd from qemu-system-common) or leave it "
             "empty");
  return v;
}

VirtiofsdVersion probeVirtiofsd(const std::string& binary, const std::string& scratchLog,
                                const security::IdentitySpec& identity, LaunchBackend* launcher, const Logger& log) {
  (void)::unlink(scratchLog.c_str());
  LaunchSpec spec;
  spec.sandboxId = "virtiofsd-probe";
  spec.argv = {binary, "--version"};
  spec.identity = identity;
  spec.logPath = scratchLog;
  spec.rlimits = security::defaultQemuRlimits();
  std::string output;
  {
    LaunchedProcess p = launchJailed(spec, log, launcher);
    ExitStatus ex = p.wait(deadlineIn(std::chrono::seconds(10)));
    output = readFileIfExists(AT_FDCWD, scratchLog, kMaxVersionOutput).value_or("");
    (void)::unlink(scratchLog.c_str());
    if (!ex.exited)
      fail(ErrorKind::kTimeout, "the policy's [vm] virtiofsd " + binary + " did not answer --version within 10 s");
    if (ex.code != 0)
      fail(ErrorKind::kFailedPrecondition, "the policy's [vm] virtiofsd " + binary + " --version " +
                                               (ex.signal ? "was killed by signal " + std::to_string(ex.signal)
                                                          : "exited with status " + std::to_string(ex.code)) +
                                               (output.empty() ? "" : ": " + security::quoteForMessage(output.substr(0, 200))));
  }
  return parseVirtiofsdVersion(output, binary);
}

std::map<int, rlimit> virtiofsdRlimits() {
  rlimit nofile{};
  KATA_SYSCALL(::getrlimit(RLIMIT_NOFILE, &nofile), "getrlimit(RLIMIT_NOFILE)");
  rlim_t n = std::min<rlim_t>(nofile.rlim_max, 1u << 20);
  return {{RLIMIT_CORE, {0, 0}}, {RLIMIT_NOFILE, {n, n}}};
}

security::CapabilitySet virtiofsdCapabilities() {
  return {CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, CAP_SETUID, CAP_SETGID, CAP_SYS_ADMIN, CAP_SETPCAP};
}

security::UserNamespaceSpec virtiofsdUserNamespace(uid_t ownerUid, gid_t ownerGid) {
  security::UserNamespaceSpec u;
  if (ownerUid == 0) {
    u.uidMap = {security::identityMapping()};
    u.gidMap = {security::identityMapping()};
  } else {
    u.uidMap = {{0, ownerUid, 1}};
    u.gidMap = {{0, ownerGid, 1}};
  }
  u.keep = virtiofsdCapabilities();
  return u;
}

std::vector<std::string> buildVirtiofsdArgs(const VirtiofsdSpec& s) {
  security::validateAbsolutePath(s.binary, "virtiofsd binary");
  security::validateAbsolutePath(s.sharedDir, "virtio-fs shared directory");
  if (s.listenFd < 3)
    fail(ErrorKind::kInvalidArgument, "virtiofsd of device " + s.deviceId + ": listening fd " +
                                          std::to_string(s.listenFd) + " is not a valid passed fd");
  // Each value is one argv element (no shell). QEMU's virtiofsd parses -o values as a
  // comma-separated list with backslash escapes: a path with either would be split or unescaped.
  if (s.flavour == VirtiofsdFlavour::kQemu && s.sharedDir.find_first_of(",\\") != std::string::npos)
    fail(ErrorKind::kInvalidArgument, "virtio-fs shared directory " + s.sharedDir +
                                          " contains ',' or '\\', which QEMU's virtiofsd cannot take in -o source=");
  const std::string fd = "--fd=" + std::to_string(s.listenFd);
  // Both flavours: its namespace sandbox (mount, pid and net namespaces, pivot_root into the share),
  // made inside the user namespace the launcher gives it; no device nodes, no file capabilities;
  // the jail sets RLIMIT_NOFILE (it could not raise it); the guest caches what the host does not
  // change behind its back (auto); shareDirectory's bind mounts are file systems of their own
  // below the share root, announced as submounts (distinct st_dev) so inode numbers of different
  // host file systems do not collide in the guest.
  if (s.flavour == VirtiofsdFlavour::kQemu)
    return {
        s.binary,
        fd,
        "-f",  // it would daemonize otherwise, and its exit would look like a crash
        "-o", "source=" + s.sharedDir,
        "-o", "sandbox=namespace",
        "-o", "modcaps=-mknod:-setfcap",
        "-o", "cache=auto",
        "-o", "announce_submounts",
        "-o", "no_xattr",
        "--rlimit-nofile=0",
        "-o", "log_level=info",
    };
  return {
      s.binary,
      fd,
      "--shared-dir=" + s.sharedDir,
      "--sandbox=namespace",
      "--seccomp=kill",
      "--modcaps=-mknod:-setfcap",
      "--inode-file-handles=never",  // file handles need CAP_DAC_READ_SEARCH of the host
      "--rlimit-nofile=0",
      "--cache=auto",
      "--announce-submounts",
      "--log-level=info",
  };
}

LaunchedProcess launchVirtiofsd(const VirtiofsdSpec& s, const Logger& log) {
  LaunchSpec spec;
  spec.sandboxId = s.sandboxId;
  spec.argv = buildVirtiofsdArgs(s);
  spec.identity = {0, 0, {}, /*allowRoot=*/true};  // uid/gid 0 of its own namespace
  spec.userns = virtiofsdUserNamespace(s.ownerUid, s.ownerGid);
  spec.passFds = {s.listenFd};
  spec.logPath = s.logPath;
  spec.joinCgroup = s.cgroup;
  spec.rlimits = s.rlimits.empty() ? virtiofsdRlimits() : s.rlimits;
  return launchJailed(spec, log, s.launcher);
}

}  // namespace kata::vmmd
