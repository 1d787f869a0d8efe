#include "tests/unit/agent_container/child_process_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <exception>

namespace kata::agent::testing {

ChildResult runInChild(const std::function<void()>& body) {
  ChildResult result;
  int fds[2];
  if (::pipe(fds) != 0) return result;
  ::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return result;
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    ::close(fds[1]);
    int code = 0;
    try {
      body();
    } catch (const std::exception& e) {
      std::string msg = std::string("ERROR: ") + e.what() + "\n";
      (void)!::write(2, msg.data(), msg.size());
      code = 100;
    }
    ::_exit(code);
  }
  ::close(fds[1]);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) result.output.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace kata::agent::testing
