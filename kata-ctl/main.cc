// kata-ctl: the runc-compatible command line. main() only wires the verbs into the CLI and runs it.
#include <iostream>
#include <string>
#include <vector>

#include "kata-ctl/cli.h"
#include "kata-ctl/command.h"

int main(int argc, char** argv) {
  kata::ctl::Cli cli(kata::ctl::allCommands());
  std::vector<std::string> args(argv + 1, argv + argc);
  return cli.run(argc > 0 ? argv[0] : "kata-ctl", args, std::cout);
}
