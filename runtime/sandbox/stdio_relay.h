// The host side of a guest process's standard streams: what the agent streams out (stdout, stderr,
// or a terminal's output) is written to host descriptors, and a host descriptor is pumped into the
// process's stdin. Descriptors are borrowed, never closed here.
//
// Pipes, sockets and terminals are driven asynchronously on the event loop (so signals and the other
// streams keep flowing while one consumer is slow); their O_NONBLOCK flag is restored when the relay
// ends, because the open file may be shared with the caller's shell. Regular files and other
// descriptors epoll cannot watch (/dev/null) are read and written directly.
#pragma once

#include <kj/async-io.h>

#include <memory>
#include <string>

#include "common/log.h"
#include "ipc/agent.capnp.h"
#include "runtime/sandbox/event_loop.h"

namespace kata::sandbox {

struct HostStdio {
  int in = -1;   // pumped into the process's stdin; -1: the process's stdin is closed at once
  int out = -1;  // receives stdout (a terminal's whole output); -1: discarded
  int err = -1;  // receives stderr; -1: discarded
};

// A ByteStream the agent writes into; each write lands in fd. A consumer that went away (EPIPE) makes
// the rest of the stream be discarded, not the process block. `name` labels log lines ("stdout").
ipc::agent::ByteStream::Client makeHostSink(EventLoop& loop, int fd, std::string name, const Logger& log);

// Copies fd into `stdin` until end of file (or EIO from a hung-up terminal), then ends the stream.
// The promise resolves then; drop it to stop early.
kj::Promise<void> pumpIntoStdin(EventLoop& loop, int fd, ipc::agent::ByteStream::Client stdin, const Logger& log);

// Whether epoll can watch fd (pipe, socket, terminal).
bool isPollable(int fd);

}  // namespace kata::sandbox
