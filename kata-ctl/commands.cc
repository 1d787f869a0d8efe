#include "kata-ctl/command.h"

namespace kata::ctl {

std::vector<std::unique_ptr<Command>> allCommands() {
  std::vector<std::unique_ptr<Command>> commands;
  commands.push_back(makeCheckpointCommand());
  commands.push_back(makeCreateCommand());
  commands.push_back(makeDeleteCommand());
  commands.push_back(makeEventsCommand());
  commands.push_back(makeExecCommand());
  commands.push_back(makeKillCommand());
  commands.push_back(makeListCommand());
  commands.push_back(makePauseCommand());
  commands.push_back(makePsCommand());
  commands.push_back(makeRestoreCommand());
  commands.push_back(makeResumeCommand());
  commands.push_back(makeRunCommand());
  commands.push_back(makeSpecCommand());
  commands.push_back(makeStartCommand());
  commands.push_back(makeStateCommand());
  commands.push_back(makeUpdateCommand());
  commands.push_back(makeFeaturesCommand());
  commands.push_back(makeShimCommand());
  commands.push_back(makeMonitorCommand());
  return commands;
}

}  // namespace kata::ctl
