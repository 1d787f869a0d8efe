// Runs a built binary as an engine does: fork/exec with an argv, stdin from a string, stdout and
// stderr captured, exit status returned.
#pragma once

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
