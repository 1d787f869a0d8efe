// Command lines as runc reads them. runc parses argv with Go's flag package driven by urfave/cli v1,
// and engines rely on its rules, which are not CLI11's (GNU) rules:
//   - one or two dashes are the same ("-root" == "--root"), every name (short or long) likewise;
//   - a value is "-name value" or "-name=value"; a bool flag takes no value but accepts "=false";
//   - no clustering of short flags ("-dt" is the unknown flag "dt");
//   - flags of a command may follow its positional arguments (urfave "reorders" the flags it knows),
//     except for commands that opt out (exec: everything after the id is the command to run);
//   - global flags come before the command only; "--" ends the flags.
// parseGoFlags applies those rules using the options declared on a CLI11 app (their names and the
// kind recorded in the type name), and returns a canonical argument list that CLI11 then parses
// into the bound variables. Errors carry Go's exact wording ("flag provided but not defined: -foo").
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace kata::ctl {

// The kinds of flags runc has. Recorded as the CLI11 option's type name.
inline constexpr const char* kKindBool = "BOOL";
inline constexpr const char* kKindString = "TEXT";
inline constexpr const char* kKindInt = "INT";          // Go int: base prefixes accepted
inline constexpr const char* kKindStringSlice = "TEXT ...";
inline constexpr const char* kKindInt64Slice = "INT ...";
inline constexpr const char* kKindDuration = "DURATION";  // Go time.Duration

// Helpers that declare a flag of each kind. `names` is in CLI11 syntax ("-b,--bundle").
CLI::Option* addBoolFlag(CLI::App& app, const std::string& names, bool& dest, const std::string& usage);
CLI::Option* addStringFlag(CLI::App& app, const std::string& names, std::string& dest,
                           const std::string& usage);
CLI::Option* addIntFlag(CLI::App& app, const std::string& names, long long& dest, const std::string& usage);
CLI::Option* addStringSliceFlag(CLI::App& app, const std::string& names, std::vector<std::string>& dest,
                                const std::string& usage);
CLI::Option* addInt64SliceFlag(CLI::App& app, const std::string& names, std::vector<long long>& dest,
                               const std::string& usage);
// The value stays the string given; it has been checked to be a valid Go duration.
CLI::Option* addDurationFlag(CLI::App& app, const std::string& names, std::string& dest,
                             const std::string& usage);

// A command line rejected by the flag rules; `what()` is Go's message.
class FlagError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct GoFlagsResult {
  std::vector<std::string> canonical;  // for CLI::App::parse: "--name=value" items, no positionals
  std::vector<std::string> rest;       // positional arguments (for globals: the command and its args)
  bool help = false;                   // "-h"/"--help" (undeclared) was given
};

// reorder: urfave's reorderArgs (flags the app declares move before the positionals).
GoFlagsResult parseGoFlags(const CLI::App& app, const std::vector<std::string>& args, bool reorder);

// Parses `canonical` into the app's bound variables. Throws FlagError.
void applyCanonical(CLI::App& app, const std::vector<std::string>& canonical);

}  // namespace kata::ctl
