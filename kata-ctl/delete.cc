// `kata-ctl delete`: removes a stopped container's state and runs its poststop hooks, as runc does
// (state first, hooks after; a failing poststop hook is a warning, per the runtime spec). A container
// whose process is still alive needs the VM backend to be stopped, with or without --force.
#include "common/error.h"
#include "kata-ctl/command.h"
#include "kata-ctl/containers.h"
#include "kata-ctl/context.h"
#include "kata-ctl/go_flags.h"
#include "runtime/hooks/hooks.h"

namespace kata::ctl {
namespace {

// The poststop hooks saved at create time (containers.h: extra["hooks"]).
std::vector<oci::Hook> poststopHooks(const state::ContainerState& s) {
  std::vector<oci::Hook> hooks;
  auto saved = s.extra.find("hooks");
  if (saved == s.extra.end() || !saved->is_object()) return hooks;
  auto list = saved->find("poststop");
  if (list == saved->end() || !list->is_array()) return hooks;
  for (const auto& h : *list) {
    if (!h.is_object() || !h.contains("path") || !h["path"].is_string()) {
      fail(ErrorKind::kInvalidArgument, "container " + s.id + ": saved poststop hook has no path");
    }
    oci::Hook hook;
    hook.path = h["path"].get<std::string>();
    if (h.contains("args")) hook.args = h["args"].get<std::vector<std::string>>();
    if (h.contains("env")) hook.env = h["env"].get<std::vector<std::string>>();
    if (h.contains("timeout")) hook.timeout = h["timeout"].get<int>();
    hooks.push_back(std::move(hook));
  }
  return hooks;
}

class DeleteCommand : public Command {
 public:
  DeleteCommand()
      : Command(CommandInfo("delete", "delete any resources held by the container often used with detached container",
                            "<container-id>\n\nWhere \"<container-id>\" is the name for the instance of the container.",
                            "EXAMPLE:\nFor example, if the container id is \"ubuntu01\" and kata-ctl list currently "
                            "shows the\nstatus of \"ubuntu01\" as \"stopped\" the following will delete resources "
                            "held for\n\"ubuntu01\" removing \"ubuntu01\" from the kata-ctl list of containers:\n\n"
                            "       # kata-ctl delete ubuntu01")
                    .exactArgs(1)) {}

  void defineFlags(CLI::App& app) override {
    addBoolFlag(app, "-f,--force", force_, "Forcibly deletes the container if it is still running (uses SIGKILL)");
  }

  int run(Context& ctx, const std::vector<std::string>& args) override {
    const std::string& id = args[0];
    state::validateContainerId(id);
    ctx.setContainer(id);
    auto& store = ctx.store();
    auto lock = store.lock(id);
    std::optional<state::ContainerState> s;
    try {
      s = store.tryLoad(id);
    } catch (const Error& e) {
      // A corrupt state can only be removed; without --force say what is wrong instead.
      if (!force_) throw;
      ctx.log().warn(std::string(e.what()) + "; removing it (--force)");
      store.remove(lock);
      return 0;
    }
    if (!s) {
      store.remove(lock);  // leftovers of an interrupted create, as runc removes a bare directory
      if (force_) return 0;
      fail(ErrorKind::kNotFound, "container does not exist");
    }
    const auto status = liveStatus(*s);
    const bool alive = processAlive(s->pid, s->extra) &&
                       (status != state::ContainerStatus::kStopped);
    if (alive) {
      if (!force_ && status != state::ContainerStatus::kCreated) {
        fail(ErrorKind::kFailedPrecondition,
             "cannot delete container " + id + " that is not stopped: " + state::statusName(status));
      }
      backendUnavailable("deleting", id,
                         "its process " + std::to_string(s->pid) + " is still running; stopping it");
    }
    auto hooks = poststopHooks(*s);
    store.remove(lock);
    s->status = state::ContainerStatus::kStopped;
    try {
      hooks::HookOptions options;
      options.workingDir = s->bundle;
      hooks::runHooks("poststop", hooks, state::ociStateJson(*s), options);
    } catch (const Error& e) {
      ctx.log().warn(e.what());
    }
    return 0;
  }

 private:
  bool force_ = false;
};

}  // namespace

std::unique_ptr<Command> makeDeleteCommand() { return std::make_unique<DeleteCommand>(); }

}  // namespace kata::ctl
