// Runs a built binary as an engine does: fork/exec with an argv, stdin from a string, stdout and
// stderr captured, exit status returned.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace kata::test {

struct RunResult {
  int status = -1;  // exit code; 128+N when killed by signal N
  std::string out;
  std::string err;
};

RunResult runProgram(const std::string& path, const std::vector<std::string>& args, const std::string& input = "",
                     const std::string& cwd = "");

// The same with more control over the child: its environment additions ("K=V", replacing a
// variable of that name) and the identity it runs as (root only; -1 keeps ours).
struct RunOptions {
  std::string input;
  std::string cwd;
  std::vector<std::string> env;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  std::vector<gid_t> groups;
};
RunResult runProgramWith(const std::string& path, const std::vector<std::string>& args, const RunOptions& options);
inline std::string kataCtlPath() { return KATA_BINARY_DIR "/bin/kata-ctl"; }
// Absolute path of runc, or empty when it is not installed.
std::string runcPath();

// A fresh temporary directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string readWhole(const std::string& path);

}  // namespace kata::test
