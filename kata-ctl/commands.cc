#include "kata-ctl/command.h"

namespace kata::ctl {

std::vector<std::unique_ptr<Command>> allCommands() {
  std::vector<std::unique_ptr<Command>> commands;
  commands.push_back(makeCheckpointCommand());
  commands.push_back(makeRestoreCommand());
  commands.push_back(makeSpecCommand());
  commands.push_back(makeFeaturesCommand());
  return commands;
}

}  // namespace kata::ctl
