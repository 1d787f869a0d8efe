// `kata-ctl spec`: writes the default config.json (runc's, with --rootless runc's rootless variant)
// into the bundle directory, laid out exactly as runc lays it out, and never overwrites one.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "common/fd.h"
#include "kata-ctl/command.h"
#include "kata-ctl/context.h"
#include "kata-ctl/go_flags.h"
#include "kata-ctl/go_json.h"
#include "runtime/oci/spec.h"

namespace kata::ctl {
namespace {

// Go prints errno texts in lower case ("no such file or directory"); engines compare runc's.
std::string goStrerror(int err) {
  std::string s = std::strerror(err);
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

}  // namespace
namespace {

class SpecCommand : public Command {
 public:
  SpecCommand()
      : Command(CommandInfo("spec",
                          "create a new specification file",
                          "[arguments...]",
                          "The spec command creates the new specification file named \"config.json\" for\n"
                          "the bundle.\n\nThe spec generated is just a starter file. Editing of the spec is "
                          "required to\nachieve desired results.").exactArgs(0)) {}

  void defineFlags(CLI::App& app) override {
    addStringFlag(app, "-b,--bundle", bundle_, "path to the root of the bundle directory");
    addBoolFlag(app, "--rootless", rootless_, "generate a configuration for a rootless container");
  }

  int run(Context&, const std::vector<std::string>&) override {
    const std::string data = goMarshalIndent(oci::defaultSpec(rootless_), "\t");
    UniqueFd dir;
    int dirfd = AT_FDCWD;
    if (!bundle_.empty()) {
      dir.reset(::open(bundle_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      // runc chdirs into the bundle; its error names that step.
      if (!dir) fail(ErrorKind::kNotFound, "chdir " + bundle_ + ": " + goStrerror(errno));
      dirfd = dir.get();
    }
    // O_EXCL makes "never overwrite" atomic: no window between the check and the write.
    UniqueFd file(::openat(dirfd, "config.json", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666));
    if (!file) {
      if (errno == EEXIST) fail(ErrorKind::kAlreadyExists, "File config.json exists. Remove it first");
      throwSysError(errno, "open config.json");
    }
    size_t off = 0;
    while (off < data.size()) {
      auto n = KATA_SYSCALL(::write(file.get(), data.data() + off, data.size() - off), "config.json");
      off += static_cast<size_t>(n);
    }
    return 0;
  }

 private:
  std::string bundle_;
  bool rootless_ = false;
};

}  // namespace

std::unique_ptr<Command> makeSpecCommand() { return std::make_unique<SpecCommand>(); }

}  // namespace kata::ctl
