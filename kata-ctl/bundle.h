// What create and run share: their flags, and every check runc makes on a bundle before it starts
// anything (in runc's order, with runc's wording).
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "runtime/oci/spec.h"

namespace kata::ctl {

class Context;

struct CreateFlags {
  std::string bundle;
  std::string consoleSocket;
  std::string pidFile;
  bool noPivot = false;
  bool noNewKeyring = false;
  long long preserveFds = 0;
};

// Declares --bundle/-b, --console-socket, --pid-file, --no-pivot, --no-new-keyring, --preserve-fds.
// run declares its own extra flags between them, as runc's help lists them.
void addBundleFlags(CLI::App& app, CreateFlags& f);
void addCreateTailFlags(CLI::App& app, CreateFlags& f);

// The bundle's spec after runc's checks: bundle readable, config.json present and valid, id format,
// rootfs exists, id not taken, console socket given iff the process wants a terminal and we detach.
// Writes nothing. Errors are kata::Error with runc's messages.
oci::Spec validateCreate(Context& ctx, const std::string& id, const CreateFlags& flags, bool detach);

}  // namespace kata::ctl
