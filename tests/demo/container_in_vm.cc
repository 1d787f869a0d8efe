// The main job's demonstration until kata-ctl drives the VM path end to end: boots the real guest
// image (Debian kernel + static kata-agent) under QEMU, shares a busybox root file system over
// virtio-9p, and asks the agent over its virtio-serial Cap'n Proto channel to run one container,
// printing the container's output and exit status as they arrive. No kata-vmmd and no kata-ctl are
// involved yet; the agent side is the production code.
//
// usage: kata-container-in-vm [command args...]   (default: a greeting from inside the VM)
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <kj/async-io.h>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/fs.h"
#include "runtime/oci/spec.h"
#include "tests/support/agent_client.h"
#include "tests/support/qemu_vm.h"

namespace rpc = kata::ipc::agent;
using namespace kata;

namespace {

constexpr const char* kShareTag = "demo";

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
// Writes what the agent streams straight to our stdout/stderr.
class PrintingStream final : public rpc::ByteStream::Server {
 public:
  explicit PrintingStream(FILE* to) : to_(to) {}
  kj::Promise<void> write(WriteContext context) override {
    auto d = context.getParams().getData();
    std::fwrite(d.begin(), 1, d.size(), to_);
    std::fflush(to_);
    return kj::READY_NOW;
  }
  kj::Promise<void> end(EndContext) override { return kj::READY_NOW; }

 private:
  FILE* to_;
};
#pragma GCC diagnostic pop

void buildRootfs(const std::string& root) {
  for (const char* d : {"", "/bin", "/proc", "/dev", "/tmp", "/etc", "/sys", "/dev/pts", "/dev/shm", "/dev/mqueue"})
    makeDirs(root + d, 0755);
  UniqueFd bin = openDir(root + "/bin");
  writeFileAtomic(bin.get(), "busybox", readFile("/bin/busybox", 16 << 20), 0755);
  for (const char* applet : {"sh", "echo", "cat", "uname", "hostname", "id"})
    if (::symlinkat("busybox", bin.get(), applet) != 0) throwSysError(errno, std::string("symlink ") + applet);
}

std::string containerSpec(const std::vector<std::string>& args) {
  nlohmann::json spec = oci::defaultSpec(false);
  spec["process"]["args"] = args;
  spec["process"]["terminal"] = false;
  spec["process"]["env"] = {"PATH=/bin", "TERM=xterm"};
  spec["hostname"] = "container-in-a-vm";
  nlohmann::json kept = nlohmann::json::array();
  for (auto& ns : spec["linux"]["namespaces"])
    if (ns["type"] != "network") kept.push_back(ns);  // the pod shares the VM's network
  spec["linux"]["namespaces"] = kept;
  return spec.dump();
}

kj::ArrayPtr<const kj::byte> bytes(const std::string& s) {
  return kj::arrayPtr(reinterpret_cast<const kj::byte*>(s.data()), s.size());
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty())
    args = {"sh", "-c", "echo \"hello from a container in a VM: $(hostname), kernel $(uname -r)\"; id"};
  std::string share;
  try {
    auto image = test::GuestImage::load(test::defaultGuestImageDir());
    if (!image) fail(ErrorKind::kNotFound, "no guest image in " + test::defaultGuestImageDir() + ": run `ninja guest-image`");
    char tmpl[] = "/tmp/kata-demo-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throwSysError(errno, "mkdtemp");
    share = tmpl;
    buildRootfs(share + "/rootfs");

    auto io = kj::setupAsyncIo();
    auto started = std::chrono::steady_clock::now();
    test::QemuVmOptions opts;
    opts.shares.push_back({kShareTag, share});
    auto vm = test::QemuVm::start(*image, opts);
    test::AgentConnection conn(io, vm->agentSocket(), std::chrono::seconds(60));
    auto timer = [&](auto&& promise) {
      return io.provider->getTimer().timeoutAfter(120 * kj::SECONDS, kj::mv(promise)).wait(io.waitScope);
    };

    auto version = timer(conn.agent().versionRequest().send());
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    std::fprintf(stderr, "[demo] VM up, agent %s (guest kernel %s) answered after %lld ms\n",
                 version.getVersion().getAgentVersion().cStr(), version.getVersion().getKernelRelease().cStr(),
                 static_cast<long long>(ms.count()));

    auto sandbox = conn.agent().createSandboxRequest();
    sandbox.initConfig().setId("demo-pod");
    sandbox.getConfig().setHostname("demo-pod");
    sandbox.getConfig().initSharedMounts(1).set(0, kShareTag);
    timer(sandbox.send());

    auto create = conn.agent().createContainerRequest();
    auto cfg = create.initConfig();
    cfg.setId("demo");
    cfg.setOciSpecJson(bytes(containerSpec(args)));
    cfg.setRootfsShare(kShareTag);
    cfg.setRootfsPath("rootfs");
    create.initStdio().setStdout(kj::heap<PrintingStream>(stdout));
    create.getStdio().setStderr(kj::heap<PrintingStream>(stderr));
    auto created = timer(create.send());
    auto container = created.getContainer();
    auto init = created.getInit();
    timer(container.startRequest().send());
    auto exited = timer(init.waitRequest().send());
    int code = exited.getStatus().getCode();
    std::fprintf(stderr, "[demo] container exited with status %d\n", code);

    auto remove = container.removeRequest();
    remove.setForce(true);
    timer(remove.send());
    timer(conn.agent().shutdownRequest().send());
    vm->waitExit(std::chrono::seconds(30));
    removeTree(AT_FDCWD, share);
    return code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kata-container-in-vm: %s\n", e.what());
  } catch (const kj::Exception& e) {
    std::fprintf(stderr, "kata-container-in-vm: %s\n", e.getDescription().cStr());
  }
  if (!share.empty()) removeTree(AT_FDCWD, share);
  return 1;
}
