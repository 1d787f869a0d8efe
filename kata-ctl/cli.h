// The kata-ctl process: parses argv the way runc does (go_flags.h), dispatches to a verb, and reports
// failures the way runc does (the error goes to the log; also to stderr when the log is a file;
// exit status 1, or the verb's own).
#pragma once

#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "kata-ctl/command.h"

namespace kata::ctl {

class Cli {
 public:
  explicit Cli(std::vector<std::unique_ptr<Command>> commands);
  // Runs one invocation; returns the process exit status. `args` excludes argv[0].
  int run(const std::string& argv0, const std::vector<std::string>& args, std::ostream& out);

 private:
  std::vector<std::unique_ptr<Command>> commands_;
};

// "kata-ctl version 0.1.0\ncommit: ...\nspec: 1.2.0\nlibseccomp: 2.5.4\n"
std::string versionText();
// The OCI runtime-spec version this build implements.
inline constexpr const char* kOciSpecVersion = "1.2.0";

// Help texts in urfave/cli's layout.
std::string appHelp(const std::string& argv0, const CLI::App& globals,
                    const std::vector<std::unique_ptr<Command>>& commands);
std::string commandHelp(const std::string& argv0, const Command& command, const CLI::App& flags);

}  // namespace kata::ctl
