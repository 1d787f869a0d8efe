#include <algorithm>
#include <sstream>

#include "kata-ctl/cli.h"
#include "kata-ctl/go_flags.h"

namespace kata::ctl {
namespace {

// "--bundle value, -b value" as urfave prints a flag's names.
std::string flagNames(const CLI::Option& opt) {
  const bool takesValue = opt.get_type_name() != kKindBool;
  std::string out;
  auto add = [&](const std::string& dashes, const std::string& n) {
    if (!out.empty()) out += ", ";
    out += dashes + n;
    if (takesValue) out += " value";
  };
  for (const auto& n : opt.get_lnames()) add("--", n);
  for (const auto& n : opt.get_snames()) add("-", n);
  return out;
}

void printFlags(std::ostream& os, const CLI::App& app) {
  std::vector<std::pair<std::string, std::string>> rows;
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->get_group().empty()) continue;  // hidden
    if (opt->get_lnames().empty() && opt->get_snames().empty()) continue;  // positionals
    rows.emplace_back(flagNames(*opt), opt->get_description());
  }
  rows.emplace_back("--help, -h", "show help");
  size_t width = 0;
  for (const auto& r : rows) width = std::max(width, r.first.size());
  for (const auto& [names, usage] : rows) {
    os << "   " << names << std::string(width - names.size() + 2, ' ') << usage << "\n";
  }
}

}  // namespace

std::string appHelp(const std::string& argv0, const CLI::App& globals,
                    const std::vector<std::unique_ptr<Command>>& commands) {
  std::ostringstream os;
  os << "NAME:\n   " << argv0 << " - Open Container Initiative runtime running containers in lightweight VMs\n\n"
     << "kata-ctl is a command line client for running applications packaged according to\n"
     << "the Open Container Initiative (OCI) format, each pod inside its own virtual machine.\n"
     << "It is driven exactly like runc.\n\n"
     << "USAGE:\n   " << argv0 << " [global options] command [command options] [arguments...]\n\n"
     << "VERSION:\n   " << versionText().substr(std::string("kata-ctl version ").size()) << "\n"
     << "COMMANDS:\n";
  size_t width = 7;  // "help, h"
  for (const auto& c : commands)
    if (!c->info().hidden) width = std::max(width, c->info().name.size());
  for (const auto& c : commands) {
    if (c->info().hidden) continue;
    os << "   " << c->info().name << std::string(width - c->info().name.size() + 2, ' ')
       << c->info().summary << "\n";
  }
  os << "   help, h" << std::string(width - 7 + 2, ' ') << "Shows a list of commands or help for one command\n\n"
     << "GLOBAL OPTIONS:\n";
  printFlags(os, globals);
  return os.str();
}

std::string commandHelp(const std::string& argv0, const Command& command, const CLI::App& flags) {
  const CommandInfo& info = command.info();
  std::ostringstream os;
  os << "NAME:\n   " << argv0 << " " << info.name << " - " << info.summary << "\n\n"
     << "USAGE:\n   " << argv0 << " " << info.name << (info.hasFlags ? " [command options]" : "") << " "
     << info.argsUsage << "\n";
  if (!info.description.empty()) os << "\nDESCRIPTION:\n   " << info.description << "\n";
  if (info.hasFlags) {
    os << "\nOPTIONS:\n";
    printFlags(os, flags);
  }
  return os.str();
}

}  // namespace kata::ctl
