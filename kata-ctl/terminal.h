// Terminals on the host side of a container's pty: a pseudo-terminal pair whose master goes to the
// engine over --console-socket (runc's protocol: the master in SCM_RIGHTS, its name as the data),
// raw mode (the guest's pty does the line discipline; the host's must pass bytes through), and the
// window size that the guest's pty is kept in step with.
#pragma once

#include <sys/ioctl.h>
#include <termios.h>

#include <optional>
#include <string>

#include "common/fd.h"

namespace kata::ctl {

struct Pty {
  UniqueFd master;
  UniqueFd slave;
  std::string name;  // /dev/pts/N
};
Pty openPty();

// Connects to the engine's console socket and sends the master. Errors name the socket.
void sendConsole(const std::string& socketPath, const Pty& pty);

// Puts a terminal into raw mode for as long as the object lives (restores it after).
class RawMode {
 public:
  explicit RawMode(int fd);
  ~RawMode();
  RawMode(const RawMode&) = delete;
  RawMode& operator=(const RawMode&) = delete;

 private:
  int fd_;
  std::optional<termios> saved_;
};

// Raw mode for good (the host side of a container's pty).
void makeRaw(int fd);

// The terminal's size, nullopt when fd is no terminal or reports 0x0.
std::optional<winsize> windowSize(int fd);

}  // namespace kata::ctl
