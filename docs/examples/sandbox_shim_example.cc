// How a CRI shim uses the Sandbox API (runtime/sandbox/sandbox.h): one pod sandbox whose agent
// channel this process holds itself (no monitor process: a shim lives as long as its pod), one
// container with library-made pipes for its stdio, its output, its exit status, and clean-up.
//
//   usage: kata-sandbox-example VMMD_SOCKET BUNDLE [GUEST_IMAGE_DIR]
// Built with the project (target kata-sandbox-example); the functional tests run it.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "common/error.h"
#include "common/fs.h"
#include "common/log.h"
#include "runtime/sandbox/sandbox.h"
#include "runtime/store/fs_store.h"

namespace sb = kata::sandbox;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s VMMD_SOCKET BUNDLE [GUEST_IMAGE_DIR]\n", argv[0]);
    return 2;
  }
  char tmpl[] = "/tmp/kata-example-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return 1;
  const std::string state = tmpl;
  int code = 1;
  try {
    // One event loop per thread; everything below runs on it.
    sb::EventLoop loop;
    sb::VmmdVmFactory factory(loop, argv[1]);
    kata::store::FsMetadataStore records(state + "/records");
    kata::Logger log(kata::LogOptions{"", kata::LogFormat::kText, kata::LogLevel::kWarn, "shim"});
    sb::SandboxEnv env{loop, factory, records, state + "/run", log};

    sb::SandboxConfig config;
    config.id = "example-pod";
    config.memoryMiB = 512;
    if (argc > 3) config.guestImageDir = argv[3];
    auto pod = sb::createSandbox(env, config);  // the VM boots
    pod->start();                               // the guest is prepared for the pod

    const std::string bundle = argv[2];
    sb::ContainerConfig app;
    app.id = "app";
    app.spec = nlohmann::json::parse(kata::readFile(bundle + "/config.json", 1 << 20));
    app.bundle = bundle;
    app.io.pipes = true;  // the library makes pipes; ioStream() hands us their ends
    pod->createContainer(app);
    sb::IoStreams io = pod->ioStream("app", "");
    io.stdinWrite.reset();  // no input: the process sees end of file
    pod->startContainer("app");
    sb::ExitStatus status = pod->waitProcess("app", "");  // output flows while we wait

    // The output has been delivered into the pipe by the time the wait returns.
    ::fcntl(io.stdoutRead.get(), F_SETFL, O_NONBLOCK);
    char buf[4096];
    for (ssize_t n; (n = ::read(io.stdoutRead.get(), buf, sizeof buf)) > 0;) std::fwrite(buf, 1, static_cast<size_t>(n), stdout);
    std::printf("app exited with %d\n", status.code);

    pod->deleteContainer("app");
    pod->stop(/*force=*/false);
    pod->deleteSandbox();  // VM, run directory and records are gone
    code = status.code;
  } catch (const kata::Error& e) {
    std::fprintf(stderr, "kata-sandbox-example: %s\n", e.what());
  }
  kata::removeTree(AT_FDCWD, state);
  return code;
}
