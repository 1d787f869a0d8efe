// Boots the guest image N times under QEMU and prints, per boot: wall time from QEMU's start to the
// agent's first ping reply ("agent ready" as the host sees it), the guest's own timeline (agent
// main() and channel-ready on CLOCK_BOOTTIME), the agent's RSS, and the time from shutdown to QEMU's
// exit. Then the median of each.
//
// usage: kata-guest-boot-bench [--runs N] [--image DIR] [--kernel vmlinux|vmlinuz] [--machine M]
//                              [--cmdline "..."] [--append "extra args"] [--memory MB]
//                              [--initramfs FILE] [--qemu ARG]...  (ARG passed to QEMU as is)
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <kj/async-io.h>
#include <string>
#include <vector>

#include "tests/support/agent_client.h"
#include "tests/support/qemu_vm.h"

using namespace kata::test;
using Clock = std::chrono::steady_clock;

namespace {

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 5;
  std::string dir = defaultGuestImageDir();
  QemuVmOptions opts;
  std::string kernelName, machine, append, initramfsName;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--runs") runs = std::stoi(next());
    else if (a == "--image") dir = next();
    else if (a == "--kernel") kernelName = next();
    else if (a == "--machine") machine = next();
    else if (a == "--cmdline") opts.cmdline = next();
    else if (a == "--append") append = next();
    else if (a == "--memory") opts.memoryMb = std::stoi(next());
    else if (a == "--initramfs") initramfsName = next();
    else if (a == "--qemu") opts.extraArgs.push_back(next());
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  auto image = GuestImage::load(dir);
  if (!image) {
    std::fprintf(stderr, "no guest image in %s: build it with `ninja guest-image`\n", dir.c_str());
    return 1;
  }
  if (!kernelName.empty()) opts.kernel = image->dir + "/" + kernelName;
  if (!machine.empty()) image->machine = machine;
  if (!initramfsName.empty()) image->initramfs = image->dir + "/" + initramfsName;
  if (!append.empty()) opts.cmdline = opts.cmdline.value_or(image->cmdline) + " " + append;

  std::printf("kernel=%s machine=%s memory=%dMiB\ncmdline=%s\n", opts.kernel.value_or(image->kernel).c_str(),
              image->machine.c_str(), opts.memoryMb, opts.cmdline.value_or(image->cmdline).c_str());
  std::printf("%4s %12s %12s %12s %12s %10s %12s\n", "run", "ready_ms", "agent_start", "agent_ready", "uptime_ms",
              "rss_kib", "poweroff_ms");
  std::vector<double> ready, start, chan, up, rss, off;
  auto io = kj::setupAsyncIo();
  for (int r = 0; r < runs; ++r) {
    auto vm = QemuVm::start(*image, opts);
    AgentConnection conn(io, vm->agentSocket(), std::chrono::seconds(30));
    auto& timer = io.provider->getTimer();
    timer.timeoutAfter(120 * kj::SECONDS, conn.agent().pingRequest().send()).wait(io.waitScope);
    auto readyAt = Clock::now();
    auto resp = timer.timeoutAfter(30 * kj::SECONDS, conn.agent().guestInfoRequest().send()).wait(io.waitScope);
    auto info = resp.getInfo();
    double startMs = info.getAgentStartNs() / 1e6, chanMs = info.getAgentReadyNs() / 1e6;
    double rssKib = info.getAgentRssBytes() / 1024.0;
    double uptimeMs = info.getUptimeNs() / 1e6;
    auto offStart = Clock::now();
    timer.timeoutAfter(30 * kj::SECONDS, conn.agent().shutdownRequest().send()).wait(io.waitScope);
    auto status = vm->waitExit(std::chrono::seconds(30));
    double offMs = status ? ms(Clock::now() - offStart) : -1;
    ready.push_back(ms(readyAt - vm->startedAt()));
    start.push_back(startMs);
    chan.push_back(chanMs);
    up.push_back(uptimeMs);
    rss.push_back(rssKib);
    off.push_back(offMs);
    std::printf("%4d %12.0f %12.0f %12.0f %12.0f %10.0f %12.0f\n", r, ready.back(), startMs, chanMs, uptimeMs, rssKib,
                offMs);
  }
  std::printf("%4s %12.0f %12.0f %12.0f %12.0f %10.0f %12.0f\n", "med", median(ready), median(start), median(chan),
              median(up), median(rss), median(off));
  return 0;
}
