#include "kata-ctl/go_flags.h"

#include <algorithm>
#include <map>

#include "kata-ctl/go_units.h"

namespace kata::ctl {
namespace {

std::string goQuote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default: out += c;
    }
  }
  return out + "\"";
}

// strconv.ParseBool
std::optional<bool> parseGoBool(const std::string& v) {
  if (v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True") return true;
  if (v == "0" || v == "f" || v == "F" || v == "false" || v == "FALSE" || v == "False") return false;
  return std::nullopt;
}

std::map<std::string, const CLI::Option*> flagNames(const CLI::App& app) {
  std::map<std::string, const CLI::Option*> names;
  for (const CLI::Option* opt : app.get_options()) {
    for (const auto& n : opt->get_lnames()) names[n] = opt;
    for (const auto& n : opt->get_snames()) names[n] = opt;
  }
  return names;
}

std::string canonicalName(const CLI::Option* opt) {
  if (!opt->get_lnames().empty()) return "--" + opt->get_lnames().front();
  return "-" + opt->get_snames().front();
}

// urfave/cli v1 argIsFlag: "-x", "--x", "-x=v" naming a declared flag.
bool argIsFlag(const std::map<std::string, const CLI::Option*>& names, const std::string& arg) {
  if (arg == "-" || arg == "--" || arg.empty() || arg[0] != '-') return false;
  std::string a = arg;
  if (a.rfind("--", 0) == 0) a = a.substr(2);
  else a = a.substr(1);
  a = a.substr(0, a.find('='));
  return names.count(a) != 0;
}

// urfave/cli v1 reorderArgs.
std::vector<std::string> reorderArgs(const std::map<std::string, const CLI::Option*>& names,
                                     const std::vector<std::string>& args) {
  std::vector<std::string> flags, remaining;
  bool nextMayBeValue = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (nextMayBeValue && !argIsFlag(names, arg)) {
      nextMayBeValue = false;
      flags.push_back(arg);
    } else if (arg == "--") {
      remaining.insert(remaining.end(), args.begin() + static_cast<long>(i), args.end());
      break;
    } else if (argIsFlag(names, arg)) {
      flags.push_back(arg);
      nextMayBeValue = arg.find('=') == std::string::npos;
    } else {
      remaining.push_back(arg);
    }
  }
  flags.insert(flags.end(), remaining.begin(), remaining.end());
  return flags;
}

// "--name=value" keeps CLI11 from reading a value that starts with '-' as an option; an empty value
// must be a separate argument, or CLI11 takes the next item as the value of "--name=".
void pushValue(std::vector<std::string>& out, const std::string& flag, const std::string& value) {
  if (value.empty()) {
    out.push_back(flag);
    out.push_back("");
  } else {
    out.push_back(flag + "=" + value);
  }
}

}  // namespace

CLI::Option* addBoolFlag(CLI::App& app, const std::string& names, bool& dest, const std::string& usage) {
  return app.add_flag(names, dest, usage)->type_name(kKindBool);
}

CLI::Option* addStringFlag(CLI::App& app, const std::string& names, std::string& dest,
                           const std::string& usage) {
  return app.add_option(names, dest, usage)->type_name(kKindString);
}

CLI::Option* addIntFlag(CLI::App& app, const std::string& names, long long& dest, const std::string& usage) {
  return app.add_option(names, dest, usage)->type_name(kKindInt);
}

CLI::Option* addStringSliceFlag(CLI::App& app, const std::string& names, std::vector<std::string>& dest,
                                const std::string& usage) {
  return app.add_option(names, dest, usage)->type_name(kKindStringSlice)->allow_extra_args(false);
}

CLI::Option* addInt64SliceFlag(CLI::App& app, const std::string& names, std::vector<long long>& dest,
                               const std::string& usage) {
  return app.add_option(names, dest, usage)->type_name(kKindInt64Slice)->allow_extra_args(false);
}

CLI::Option* addDurationFlag(CLI::App& app, const std::string& names, std::string& dest,
                             const std::string& usage) {
  return app.add_option(names, dest, usage)->type_name(kKindDuration);
}

GoFlagsResult parseGoFlags(const CLI::App& app, const std::vector<std::string>& input, bool reorder) {
  const auto names = flagNames(app);
  std::vector<std::string> args = reorder ? reorderArgs(names, input) : input;
  GoFlagsResult result;
  // Per option, in first-seen order: the values given (bools as "true"/"false").
  std::vector<std::pair<const CLI::Option*, std::vector<std::string>>> seen;
  auto record = [&](const CLI::Option* opt, std::string value) {
    auto it = std::find_if(seen.begin(), seen.end(), [&](const auto& p) { return p.first == opt; });
    if (it == seen.end()) {
      seen.push_back({opt, {}});
      it = seen.end() - 1;
    }
    it->second.push_back(std::move(value));
  };

  size_t i = 0;
  while (i < args.size()) {
    const std::string& s = args[i];
    if (s.size() < 2 || s[0] != '-') break;
    size_t minuses = 1;
    if (s[1] == '-') {
      minuses = 2;
      if (s.size() == 2) {
        ++i;
        break;
      }
    }
    std::string name = s.substr(minuses);
    if (name.empty() || name[0] == '-' || name[0] == '=') throw FlagError("bad flag syntax: " + s);
    ++i;
    bool hasValue = false;
    std::string value;
    if (auto eq = name.find('=', 1); eq != std::string::npos) {
      value = name.substr(eq + 1);
      hasValue = true;
      name = name.substr(0, eq);
    }
    auto it = names.find(name);
    if (it == names.end()) {
      if (name == "help" || name == "h") {
        result.help = true;
        return result;
      }
      throw FlagError("flag provided but not defined: -" + name);
    }
    const CLI::Option* opt = it->second;
    const std::string kind = opt->get_type_name();
    if (kind == kKindBool) {
      if (hasValue) {
        auto b = parseGoBool(value);
        if (!b) throw FlagError("invalid boolean value " + goQuote(value) + " for -" + name + ": parse error");
        record(opt, *b ? "true" : "false");
      } else {
        record(opt, "true");
      }
      continue;
    }
    if (!hasValue && i < args.size()) {
      value = args[i++];
      hasValue = true;
    }
    if (!hasValue) throw FlagError("flag needs an argument: -" + name);
    auto invalid = [&](const std::string& why) {
      return FlagError("invalid value " + goQuote(value) + " for flag -" + name + ": " + why);
    };
    if (kind == kKindInt) {
      auto n = parseGoInt(value);
      if (!n) throw invalid("parse error");
      value = std::to_string(*n);
    } else if (kind == kKindInt64Slice) {
      auto n = parseGoInt(value);
      if (!n) throw invalid("strconv.ParseInt: parsing " + goQuote(value) + ": invalid syntax");
      value = std::to_string(*n);
    } else if (kind == kKindDuration) {
      if (!parseGoDuration(value)) throw invalid("parse error");
    }
    record(opt, value);
  }
  result.rest.assign(args.begin() + static_cast<long>(i), args.end());

  for (const auto& [opt, values] : seen) {
    const std::string kind = opt->get_type_name();
    const std::string flag = canonicalName(opt);
    if (kind == kKindBool) {
      // Go keeps the last setting; CLI11 only needs to see the flag when it ends up true.
      if (values.back() == "true") result.canonical.push_back(flag);
    } else if (kind == kKindStringSlice || kind == kKindInt64Slice) {
      for (const auto& v : values) pushValue(result.canonical, flag, v);
    } else {
      pushValue(result.canonical, flag, values.back());
    }
  }
  return result;
}

void applyCanonical(CLI::App& app, const std::vector<std::string>& canonical) {
  std::vector<std::string> reversed(canonical.rbegin(), canonical.rend());
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    throw FlagError(e.what());
  }
}

}  // namespace kata::ctl
