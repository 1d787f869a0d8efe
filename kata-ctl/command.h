// One verb of the CLI. Each verb lives in its own file (create.cc, state.cc, ...), declares its flags
// on a CLI11 app bound to its own members, and runs against a Context.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

namespace kata::ctl {

class Context;

struct CommandInfo {
  enum class Check { kExact, kMin, kMinMax };
  CommandInfo(std::string n, std::string sum, std::string argsUse, std::string desc)
      : name(std::move(n)), summary(std::move(sum)), argsUsage(std::move(argsUse)), description(std::move(desc)) {}
  CommandInfo& exactArgs(int n) { check = Check::kExact; minArgs = maxArgs = n; return *this; }
  CommandInfo& minArgsCount(int n) { check = Check::kMin; minArgs = n; return *this; }
  CommandInfo& argRange(int lo, int hi) { check = Check::kMinMax; minArgs = lo; maxArgs = hi; return *this; }
  CommandInfo& noFlags() { hasFlags = false; return *this; }
  CommandInfo& noReorder() { skipArgReorder = true; return *this; }
  CommandInfo& hide() { hidden = true; return *this; }

  std::string name;
  std::vector<std::string> aliases;
  std::string summary;      // one line, the NAME section of the help
  std::string argsUsage;    // "<container-id>", shown after "[command options]"
  std::string description;  // free text after USAGE
  // runc's checkArgs: the positional count is checked before anything else runs.
  Check check = Check::kExact;
  int minArgs = 1;
  int maxArgs = 1;
  bool skipArgReorder = false;  // exec: the arguments after the id belong to the process
  bool hasFlags = true;         // urfave prints "[command options]" only for commands with flags
  bool hidden = false;          // kata-ctl's own helper processes (__shim, __monitor): not in the help
};

class Command {
 public:
  explicit Command(CommandInfo info) : info_(std::move(info)) {}
  virtual ~Command() = default;
  Command(const Command&) = delete;
  Command& operator=(const Command&) = delete;

  const CommandInfo& info() const { return info_; }
  // Declares the flags on `app` (called once, before parsing).
  virtual void defineFlags(CLI::App& app) { (void)app; }
  // Runs the verb; the returned value is the exit code. Failures are thrown (kata::Error or
  // CommandFailure) and reported by the caller the way runc reports them.
  virtual int run(Context& ctx, const std::vector<std::string>& args) = 0;

 private:
  CommandInfo info_;
};

// A failure with an exit code other than 1 (exec reports its failures with 255, like runc).
class CommandFailure : public std::runtime_error {
 public:
  CommandFailure(const std::string& message, int exitCode)
      : std::runtime_error(message), exitCode_(exitCode) {}
  int exitCode() const { return exitCode_; }

 private:
  int exitCode_;
};

// Every verb, in the order of runc's help.
std::vector<std::unique_ptr<Command>> allCommands();

std::unique_ptr<Command> makeCheckpointCommand();
std::unique_ptr<Command> makeCreateCommand();
std::unique_ptr<Command> makeDeleteCommand();
std::unique_ptr<Command> makeEventsCommand();
std::unique_ptr<Command> makeExecCommand();
std::unique_ptr<Command> makeKillCommand();
std::unique_ptr<Command> makeListCommand();
std::unique_ptr<Command> makePauseCommand();
std::unique_ptr<Command> makePsCommand();
std::unique_ptr<Command> makeRestoreCommand();
std::unique_ptr<Command> makeResumeCommand();
std::unique_ptr<Command> makeRunCommand();
std::unique_ptr<Command> makeSpecCommand();
std::unique_ptr<Command> makeStartCommand();
std::unique_ptr<Command> makeStateCommand();
std::unique_ptr<Command> makeUpdateCommand();
std::unique_ptr<Command> makeFeaturesCommand();
// The helper processes kata-ctl starts (re-executing itself): a container's shim, a sandbox's monitor.
std::unique_ptr<Command> makeShimCommand();
std::unique_ptr<Command> makeMonitorCommand();

}  // namespace kata::ctl
