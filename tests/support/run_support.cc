#include "tests/support/run_support.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace kata::test {
namespace {

std::string slurp(int fd) {
  std::string s;
  lseek(fd, 0, SEEK_SET);
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
  return s;
}

int tempFile() {
  char name[] = "/tmp/kata-cli-test-XXXXXX";
  int fd = mkstemp(name);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  unlink(name);
  return fd;
}

}  // namespace

RunResult runProgram(const std::string& path, const std::vector<std::string>& args, const std::string& input,
                     const std::string& cwd) {
  RunOptions o;
  o.input = input;
  o.cwd = cwd;
  return runProgramWith(path, args, o);
}

RunResult runProgramWith(const std::string& path, const std::vector<std::string>& args, const RunOptions& o) {
  int in = tempFile(), out = tempFile(), err = tempFile();
  if (write(in, o.input.data(), o.input.size()) != static_cast<ssize_t>(o.input.size())) throw std::runtime_error("write");
  lseek(in, 0, SEEK_SET);
  std::vector<std::string> argv{path};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::vector<std::string> envStrings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    std::string name = kv.substr(0, kv.find('='));
    bool replaced = false;
    for (const auto& add : o.env) replaced = replaced || add.substr(0, add.find('=')) == name;
    if (!replaced) envStrings.push_back(kv);
  }
  envStrings.insert(envStrings.end(), o.env.begin(), o.env.end());
  std::vector<char*> cenv;
  for (auto& e : envStrings) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    if (o.gid != static_cast<gid_t>(-1)) {
      if (setgroups(o.groups.size(), o.groups.data()) != 0 || setresgid(o.gid, o.gid, o.gid) != 0) _exit(125);
    }
    if (o.uid != static_cast<uid_t>(-1) && setresuid(o.uid, o.uid, o.uid) != 0) _exit(125);
    if (!o.cwd.empty() && chdir(o.cwd.c_str()) != 0) _exit(126);
    execve(path.c_str(), cargv.data(), cenv.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  RunResult r;
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out);
  r.err = slurp(err);
  close(in);
  close(out);
  close(err);
  return r;
}

std::string runcPath() {
  for (const char* p : {"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"}) {
    if (access(p, X_OK) == 0) return p;
  }
  return {};
}

TempDir::TempDir() {
  char name[] = "/tmp/kata-cli-dir-XXXXXX";
  if (mkdtemp(name) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = name;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string readWhole(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace kata::test
