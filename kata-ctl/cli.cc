#include "kata-ctl/cli.h"

#include <seccomp.h>

#include <iostream>
#include <optional>

#include "common/error.h"
#include "common/log.h"
#include "kata-ctl/context.h"
#include "kata-ctl/go_flags.h"

#ifndef KATA_VERSION
#define KATA_VERSION "unknown"
#endif
#ifndef KATA_GIT_COMMIT
#define KATA_GIT_COMMIT "unknown"
#endif

namespace kata::ctl {
namespace {

void defineGlobalFlags(CLI::App& app, GlobalOptions& o) {
  addBoolFlag(app, "--debug", o.debug, "enable debug logging");
  addStringFlag(app, "--log", o.log, "set the log file to write kata-ctl logs to (default is '/dev/stderr')");
  addStringFlag(app, "--log-format", o.logFormat,
                "set the log format ('text' (default), or 'json') (default: \"text\")");
  addStringFlag(app, "--root", o.root,
                "root directory for storage of container state (this should be located in tmpfs) "
                "(default: \"/run/kata-ctl\", or $XDG_RUNTIME_DIR/kata-ctl when not root)");
  addStringFlag(app, "--criu", o.criu,
                "accepted for runc compatibility; checkpoint and restore are not supported (default: \"criu\")");
  addBoolFlag(app, "--systemd-cgroup", o.systemdCgroup,
              "enable systemd cgroup support, expects cgroupsPath to be of form \"slice:prefix:name\" for "
              "e.g. \"system.slice:kata:434234\"");
  addStringFlag(app, "--rootless", o.rootless,
                "ignore cgroup permission errors ('true', 'false', or 'auto') (default: \"auto\")");
  addStringFlag(app, "--config", o.config,
                "path of the toml configuration (default: $KATA_CTL_CONFIG, then /etc/kata-ctl/config.toml, "
                "then the built-in defaults)");
  addBoolFlag(app, "-v,--version", o.version, "print the version");
}

std::unique_ptr<CLI::App> newApp() {
  auto app = std::make_unique<CLI::App>();
  app->set_help_flag();  // -h/--help are Go's special case, handled by parseGoFlags
  app->allow_extras(false);
  return app;
}

Logger stderrLogger() { return Logger(LogOptions{"", LogFormat::kText, LogLevel::kWarn, "kata-ctl"}); }

// runc's fatal(): the error goes to the log; when the log is not standard error, it is also printed
// plainly on standard error so a person (or an engine reading stderr) sees it.
int report(const Logger& log, bool logIsFile, const std::string& message, int code) {
  log.error(message);
  if (logIsFile) std::cerr << message << std::endl;
  return code;
}

std::string checkArgs(const std::string& argv0, const CommandInfo& info, size_t n) {
  const std::string who = argv0 + ": \"" + info.name + "\" requires ";
  const auto count = static_cast<int>(n);
  switch (info.check) {
    case CommandInfo::Check::kExact:
      if (count != info.minArgs) return who + "exactly " + std::to_string(info.minArgs) + " argument(s)";
      break;
    case CommandInfo::Check::kMinMax:
      if (count > info.maxArgs) return who + "a maximum of " + std::to_string(info.maxArgs) + " argument(s)";
      [[fallthrough]];
    case CommandInfo::Check::kMin:
      if (count < info.minArgs) return who + "a minimum of " + std::to_string(info.minArgs) + " argument(s)";
      break;
  }
  return {};
}

}  // namespace

std::string versionText() {
  return std::string("kata-ctl version ") + KATA_VERSION + "\ncommit: " + KATA_GIT_COMMIT + "\nspec: " +
         kOciSpecVersion + "\nlibseccomp: " + std::to_string(seccomp_version()->major) + "." +
         std::to_string(seccomp_version()->minor) + "." + std::to_string(seccomp_version()->micro) + "\n";
}

Cli::Cli(std::vector<std::unique_ptr<Command>> commands) : commands_(std::move(commands)) {}

int Cli::run(const std::string& argv0, const std::vector<std::string>& args, std::ostream& out) {
  GlobalOptions options;
  auto globals = newApp();
  defineGlobalFlags(*globals, options);

  GoFlagsResult parsed;
  try {
    parsed = parseGoFlags(*globals, args, /*reorder=*/false);
    if (!parsed.help) applyCanonical(*globals, parsed.canonical);
  } catch (const FlagError& e) {
    out << "Incorrect Usage. " << e.what() << "\n\n" << appHelp(argv0, *globals, commands_);
    out.flush();
    return report(stderrLogger(), false, e.what(), 1);
  }
  if (parsed.help) {
    out << appHelp(argv0, *globals, commands_);
    return 0;
  }
  if (options.version) {
    out << versionText();
    return 0;
  }

  std::optional<Logger> logger;
  try {
    logger.emplace(LogOptions{options.log, parseLogFormat(options.logFormat),
                              options.debug ? LogLevel::kDebug : LogLevel::kWarn, "kata-ctl"});
  } catch (const std::exception& e) {
    return report(stderrLogger(), false, e.what(), 1);
  }
  const bool logIsFile = !options.log.empty();

  if (parsed.rest.empty()) {
    out << appHelp(argv0, *globals, commands_);
    return 0;
  }
  const std::string name = parsed.rest.front();
  std::vector<std::string> cmdArgs(parsed.rest.begin() + 1, parsed.rest.end());

  auto find = [&](const std::string& n) -> Command* {
    for (auto& c : commands_) {
      if (c->info().name == n) return c.get();
      for (const auto& a : c->info().aliases)
        if (a == n) return c.get();
    }
    return nullptr;
  };

  if (name == "help" || name == "h") {
    if (cmdArgs.empty()) {
      out << appHelp(argv0, *globals, commands_);
      return 0;
    }
    Command* c = find(cmdArgs.front());
    if (c == nullptr) return report(*logger, logIsFile, "No help topic for '" + cmdArgs.front() + "'\n", 3);
    auto app = newApp();
    c->defineFlags(*app);
    out << commandHelp(argv0, *c, *app);
    return 0;
  }

  Command* command = find(name);
  if (command == nullptr) return report(*logger, logIsFile, "No help topic for '" + name + "'\n", 3);

  auto app = newApp();
  command->defineFlags(*app);
  std::vector<std::string> positionals;
  app->add_option("args", positionals)->group("");
  try {
    auto cmdParsed = parseGoFlags(*app, cmdArgs, !command->info().skipArgReorder);
    if (cmdParsed.help) {
      out << commandHelp(argv0, *command, *app);
      return 0;
    }
    auto canonical = cmdParsed.canonical;
    if (!cmdParsed.rest.empty()) {
      canonical.push_back("--");
      canonical.insert(canonical.end(), cmdParsed.rest.begin(), cmdParsed.rest.end());
    }
    applyCanonical(*app, canonical);
  } catch (const FlagError& e) {
    out << "Incorrect Usage: " << e.what() << "\n\n" << commandHelp(argv0, *command, *app);
    out.flush();
    return report(*logger, logIsFile, e.what(), 1);
  }

  if (auto usage = checkArgs(argv0, command->info(), positionals.size()); !usage.empty()) {
    out << "Incorrect Usage.\n\n" << commandHelp(argv0, *command, *app);
    out.flush();
    return report(*logger, logIsFile, usage, 1);
  }

  Context ctx(options, argv0, *logger, out);
  try {
    int code = command->run(ctx, positionals);
    out.flush();
    return code;
  } catch (const CommandFailure& e) {
    out.flush();
    return report(ctx.log(), logIsFile, e.what(), e.exitCode());
  } catch (const std::exception& e) {
    out.flush();
    return report(ctx.log(), logIsFile, e.what(), 1);
  }
}

}  // namespace kata::ctl
