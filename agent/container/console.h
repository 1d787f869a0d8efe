// A container process's terminal, made inside the container as runc makes it (libcontainer's
// setupConsole): the process opens /dev/ptmx as the container sees it, i.e. the container's own
// devpts instance (`devpts` mounted with `newinstance,ptmxmode=0666` on /dev/pts, /dev/ptmx ->
// pts/ptmx), so the slave is /dev/pts/N of that instance: `tty` and ttyname() work, and
// /proc/self/fd/0 names a path that exists in the container. The master goes to the agent over a
// unix socket (SCM_RIGHTS) before the exec; the slave becomes the process's controlling terminal
// and stdio.
//
// Runs in the container's init after setupRootfs, or in an exec'd process after setns into the
// container's mount namespace; errors are kata::Error naming process.terminal and what to fix.
#pragma once

#include <optional>
#include <string>

#include "common/fd.h"

namespace kata::agent {

struct ConsoleSize {
  unsigned rows = 0;
  unsigned cols = 0;
};

struct ContainerConsole {
  UniqueFd master;    // O_CLOEXEC; what the agent relays
  UniqueFd slave;     // O_CLOEXEC | O_NOCTTY; becomes the process's terminal
  unsigned index = 0; // N of pts/N in the devpts instance the master came from
};

// Opens a new pty through ptmxPath (resolved by the calling process: in the container, its
// /dev/ptmx). Anything that is not a pty multiplexer (character device 5:2) is refused: the path is
// the container image's, and the agent relays whatever it gets. The slave is opened from the master
// (TIOCGPTPEER), never by path, so nothing in the container can put another file in its place.
// `size` is set on the master before the process can look at the terminal (OCI consoleSize).
ContainerConsole openContainerConsole(const std::optional<ConsoleSize>& size,
                                      const std::string& ptmxPath = "/dev/ptmx");

// A new session whose controlling terminal is `slave`, which also becomes fds 0, 1 and 2.
void becomeSessionOnTerminal(int slave);

// Sends `fd` with one byte of data (SCM_RIGHTS) on a connected unix socket: what the agent's
// kj::AsyncCapabilityStream::tryReceiveFd() takes.
void sendFd(int socket, int fd);

}  // namespace kata::agent
