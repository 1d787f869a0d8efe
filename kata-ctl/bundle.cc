#include "kata-ctl/bundle.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/error.h"
#include "kata-ctl/context.h"
#include "kata-ctl/go_flags.h"
#include "runtime/state/container_state.h"

namespace kata::ctl {
namespace {

// Go prints errno texts in lower case ("no such file or directory"); engines compare runc's.
std::string goStrerror(int err) {
  std::string s = std::strerror(err);
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

}  // namespace

void addBundleFlags(CLI::App& app, CreateFlags& f) {
  addStringFlag(app, "-b,--bundle", f.bundle,
                "path to the root of the bundle directory, defaults to the current directory");
  addStringFlag(app, "--console-socket", f.consoleSocket,
                "path to an AF_UNIX socket which will receive a file descriptor referencing the master end of "
                "the console's pseudoterminal");
}

void addCreateTailFlags(CLI::App& app, CreateFlags& f) {
  addStringFlag(app, "--pid-file", f.pidFile, "specify the file to write the process id to");
  addBoolFlag(app, "--no-pivot", f.noPivot,
              "do not use pivot root to jail process inside rootfs.  This should be used whenever the rootfs "
              "is on top of a ramdisk");
  addBoolFlag(app, "--no-new-keyring", f.noNewKeyring,
              "do not create a new session keyring for the container.  This will cause the container to "
              "inherit the calling processes session key");
  addIntFlag(app, "--preserve-fds", f.preserveFds,
             "Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total) (default: 0)");
}

oci::Spec validateCreate(Context& ctx, const std::string& id, const CreateFlags& flags, bool detach) {
  namespace fs = std::filesystem;
  (void)ctx.config();  // a broken configuration is reported before anything else
  const std::string bundle = fs::absolute(flags.bundle.empty() ? "." : flags.bundle).lexically_normal().string();
  struct stat st {};
  if (::stat(bundle.c_str(), &st) != 0) {
    // runc chdirs into the bundle first; keep its wording.
    fail(ErrorKind::kNotFound, "chdir " + (flags.bundle.empty() ? std::string(".") : flags.bundle) + ": " +
                                   goStrerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) fail(ErrorKind::kInvalidArgument, "chdir " + flags.bundle + ": not a directory");
  if (!fs::exists(bundle + "/config.json")) {
    fail(ErrorKind::kNotFound, "JSON specification file config.json not found");
  }
  oci::Spec spec = oci::loadBundleSpec(bundle);

  if (id.empty()) fail(ErrorKind::kInvalidArgument, "container id cannot be empty");
  ctx.setContainer(id);
  state::validateContainerId(id);

  if (!spec.root) fail(ErrorKind::kInvalidArgument, "config.json: root must be specified");
  fs::path rootfs(spec.root->path);
  if (rootfs.is_relative()) rootfs = fs::path(bundle) / rootfs;
  struct stat rst {};
  if (::stat(rootfs.c_str(), &rst) != 0) {
    fail(ErrorKind::kInvalidArgument, "invalid rootfs: stat " + rootfs.string() + ": " + goStrerror(errno));
  }
  if (!S_ISDIR(rst.st_mode)) {
    fail(ErrorKind::kInvalidArgument, "invalid rootfs: " + rootfs.string() + " is not a directory");
  }

  if (ctx.store().exists(id)) fail(ErrorKind::kAlreadyExists, "container with given ID already exists");

  const bool terminal = spec.process && spec.process->terminal;
  if (detach && terminal && flags.consoleSocket.empty()) {
    fail(ErrorKind::kInvalidArgument, "cannot allocate tty if runc will detach without setting console socket");
  }
  if ((!detach || !terminal) && !flags.consoleSocket.empty()) {
    fail(ErrorKind::kInvalidArgument, "cannot use console socket if runc will not detach or allocate tty");
  }
  if (flags.preserveFds < 0) fail(ErrorKind::kInvalidArgument, "--preserve-fds must not be negative");
  return spec;
}

}  // namespace kata::ctl
