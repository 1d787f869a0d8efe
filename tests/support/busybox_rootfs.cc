#include "tests/support/busybox_rootfs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "runtime/oci/spec.h"

namespace kata::test {

void buildBusyboxRootfs(const std::string& root) {
  if (::access(kBusyboxPath, X_OK) != 0) fail(ErrorKind::kNotFound, std::string(kBusyboxPath) + " missing: install busybox-static");
  for (const char* d : {"", "/bin", "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/tmp", "/etc",
                        "/root", "/home", "/home/user", "/run"})
    makeDirs(root + d, 0755);
  ::chmod((root + "/tmp").c_str(), 01777);
  UniqueFd bin = openDir(root + "/bin");
  writeFileAtomic(bin.get(), "busybox", readFile(kBusyboxPath, 16 << 20), 0755);
  for (const char* applet : {"sh", "echo", "cat", "ls", "sleep", "id", "hostname", "uname", "ps", "nc", "true",
                             "false", "kill", "mkdir", "touch", "grep", "stty", "tty", "wc", "head", "dd", "env",
                             "ip", "wget", "httpd", "seq", "tr", "sed", "printf", "test", "rm", "date"})
    if (::symlinkat("busybox", bin.get(), applet) != 0 && errno != EEXIST)
      throwSysError(errno, std::string("symlink ") + applet);
  UniqueFd etc = openDir(root + "/etc");
  writeFileAtomic(etc.get(), "passwd", "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n", 0644);
  writeFileAtomic(etc.get(), "group", "root:x:0:\nuser:x:1000:\nextra:x:2000:user\nmore:x:3000:user\n", 0644);
}

void writeBusyboxBundle(const std::string& dir, const std::string& argsJson) {
  makeDirs(dir, 0755);
  buildBusyboxRootfs(dir + "/rootfs");
  nlohmann::json spec = oci::defaultSpec(false);
  spec["process"]["args"] = nlohmann::json::parse(argsJson);
  spec["process"]["terminal"] = false;
  spec["process"]["env"] = {"PATH=/bin", "TERM=xterm"};
  spec["root"]["readonly"] = false;
  UniqueFd d = openDir(dir);
  writeFileAtomic(d.get(), "config.json", spec.dump(2), 0644);
}

}  // namespace kata::test
