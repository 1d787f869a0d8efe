// `kata-ctl update`: reads the new resources exactly as runc does (a JSON file, stdin, or one flag per
// value, with runc's number and memory-size syntax and error wording) and has the guest agent apply
// them to the container's cgroup inside the VM.
#include <unistd.h>

#include <iostream>
#include <iterator>
#include <map>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fs.h"
#include "kata-ctl/command.h"
#include "kata-ctl/containers.h"
#include "kata-ctl/context.h"
#include "kata-ctl/go_flags.h"
#include "kata-ctl/go_units.h"
#include "kata-ctl/sandboxes.h"

namespace kata::ctl {
namespace {

constexpr size_t kMaxResourcesBytes = 1024 * 1024;

std::string numError(const std::string& fn, const std::string& v) {
  bool digits = !v.empty() && v.find_first_not_of("0123456789+-") == std::string::npos;
  return "strconv." + fn + ": parsing \"" + v + "\": " + (digits ? "value out of range" : "invalid syntax");
}

class UpdateCommand : public Command {
 public:
  UpdateCommand()
      : Command(CommandInfo("update", "update container resource constraints",
                            "<container-id>",
                            "The update command updates the resource constraints of the container.")
                    .exactArgs(1)) {}

  void defineFlags(CLI::App& app) override {
    addStringFlag(app, "-r,--resources", resources_,
                  "path to the file containing the resources to update or '-' to read from the standard input");
    addIntFlag(app, "--blkio-weight", blkioWeight_, "Specifies per cgroup weight, range is from 10 to 1000 (default: 0)");
    for (const char* n : {"cpu-period", "cpu-quota", "cpu-share", "cpu-rt-period", "cpu-rt-runtime", "cpuset-cpus",
                          "cpuset-mems", "memory", "memory-reservation", "memory-swap"}) {
      strings_[n];
    }
    addStringFlag(app, "--cpu-period", strings_["cpu-period"],
                  "CPU CFS period to be used for hardcapping (in usecs). 0 to use system default");
    addStringFlag(app, "--cpu-quota", strings_["cpu-quota"],
                  "CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period");
    addStringFlag(app, "--cpu-share", strings_["cpu-share"], "CPU shares (relative weight vs. other containers)");
    addStringFlag(app, "--cpu-rt-period", strings_["cpu-rt-period"],
                  "CPU realtime period to be used for hardcapping (in usecs). 0 to use system default");
    addStringFlag(app, "--cpu-rt-runtime", strings_["cpu-rt-runtime"],
                  "CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period");
    addStringFlag(app, "--cpuset-cpus", strings_["cpuset-cpus"], "CPU(s) to use");
    addStringFlag(app, "--cpuset-mems", strings_["cpuset-mems"], "Memory node(s) to use");
    addStringFlag(app, "--memory", strings_["memory"], "Memory limit (in bytes)");
    addStringFlag(app, "--memory-reservation", strings_["memory-reservation"],
                  "Memory reservation or soft_limit (in bytes)");
    addStringFlag(app, "--memory-swap", strings_["memory-swap"],
                  "Total memory usage (memory + swap); set '-1' to enable unlimited swap");
    addIntFlag(app, "--pids-limit", pidsLimit_, "Maximum number of pids allowed in the container (default: 0)");
    addStringFlag(app, "--l3-cache-schema", l3CacheSchema_, "The string of Intel RDT/CAT L3 cache schema");
    addStringFlag(app, "--mem-bw-schema", memBwSchema_, "The string of Intel RDT/MBA memory bandwidth schema");
  }

  // The resources runc would apply, as a runtime-spec LinuxResources object.
  nlohmann::json resources() {
    if (!resources_.empty()) {
      std::string text;
      if (resources_ == "-") {
        text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
        if (text.size() > kMaxResourcesBytes) fail(ErrorKind::kInvalidArgument, "resources: larger than 1 MiB");
      } else {
        text = readFile(resources_, kMaxResourcesBytes);
      }
      auto j = nlohmann::json::parse(text, nullptr, false);
      if (j.is_discarded() || !j.is_object()) {
        fail(ErrorKind::kInvalidArgument, "resources: not a JSON object of runtime-spec LinuxResources");
      }
      return j;
    }
    nlohmann::json r = nlohmann::json::object();
    if (blkioWeight_ != 0) r["blockIO"]["weight"] = blkioWeight_;
    for (const char* n : {"cpu-period", "cpu-rt-period", "cpu-share"}) {
      const auto& v = strings_[n];
      if (v.empty()) continue;
      auto u = parseGoUint10(v);
      if (!u) fail(ErrorKind::kInvalidArgument, std::string("invalid value for ") + n + ": " + numError("ParseUint", v));
      static const std::map<std::string, const char*> key = {
          {"cpu-period", "period"}, {"cpu-rt-period", "realtimePeriod"}, {"cpu-share", "shares"}};
      r["cpu"][key.at(n)] = *u;
    }
    for (const char* n : {"cpu-quota", "cpu-rt-runtime"}) {
      const auto& v = strings_[n];
      if (v.empty()) continue;
      auto i = parseGoInt10(v);
      if (!i) fail(ErrorKind::kInvalidArgument, std::string("invalid value for ") + n + ": " + numError("ParseInt", v));
      r["cpu"][std::string(n) == "cpu-quota" ? "quota" : "realtimeRuntime"] = *i;
    }
    if (!strings_["cpuset-cpus"].empty()) r["cpu"]["cpus"] = strings_["cpuset-cpus"];
    if (!strings_["cpuset-mems"].empty()) r["cpu"]["mems"] = strings_["cpuset-mems"];
    for (const char* n : {"memory", "memory-swap", "memory-reservation"}) {
      const auto& v = strings_[n];
      if (v.empty()) continue;
      int64_t bytes = -1;
      if (v != "-1") {
        try {
          bytes = parseRamInBytes(v);
        } catch (const Error& e) {
          fail(ErrorKind::kInvalidArgument, std::string("invalid value for ") + n + ": " + e.what());
        }
      }
      static const std::map<std::string, const char*> key = {
          {"memory", "limit"}, {"memory-swap", "swap"}, {"memory-reservation", "reservation"}};
      r["memory"][key.at(n)] = bytes;
    }
    if (pidsLimit_ != 0) r["pids"]["limit"] = pidsLimit_;
    return r;
  }

  int run(Context& ctx, const std::vector<std::string>& args) override {
    auto s = getContainer(ctx, args[0]);
    auto r = resources();
    ctx.log().debug("update resources: " + r.dump());
    if (s.status == state::ContainerStatus::kStopped) fail(ErrorKind::kFailedPrecondition, "container not running");
    auto sb = openSandbox(ctx, s);
    sb->updateContainer(s.id, r);
    return 0;
  }

 private:
  std::string resources_;
  long long blkioWeight_ = 0;
  long long pidsLimit_ = 0;
  std::map<std::string, std::string> strings_;
  std::string l3CacheSchema_, memBwSchema_;
};

}  // namespace

std::unique_ptr<Command> makeUpdateCommand() { return std::make_unique<UpdateCommand>(); }

}  // namespace kata::ctl
