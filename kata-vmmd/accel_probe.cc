#include "kata-vmmd/accel_probe.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "common/error.h"
#include "common/fd.h"
#include "common/fs.h"

namespace kata::vmmd {
namespace {

// What the child reports through the pipe: a step number and the errno or exit reason it saw.
// Fixed-size so the child writes it with one write() and the parent cannot be fed a long message.
enum Step : int {
  kOk = 0, kOpen, kApiVersion, kCreateVm, kMmapMem, kSetMemory, kCreateVcpu, kVcpuMmapSize,
  kMmapRun, kGetSregs, kSetSregs, kSetRegs, kRealRun1, kRealExit1, kRealRun2, kRealExit2,
  kLongRun1, kLongExit1, kLongRun2, kLongExit2,
};
struct Report {
  int step;
  int err;         // errno for failed calls
  int exitReason;  // kvm_run->exit_reason for unexpected exits
  int detail;      // io port/data for a wrong KVM_EXIT_IO, suberror for KVM_EXIT_INTERNAL_ERROR
};

const char* stepName(int step) {
  switch (step) {
    case kOpen: return "open";
    case kApiVersion: return "KVM_GET_API_VERSION";
    case kCreateVm: return "KVM_CREATE_VM";
    case kMmapMem: return "mmap guest memory";
    case kSetMemory: return "KVM_SET_USER_MEMORY_REGION";
    case kCreateVcpu: return "KVM_CREATE_VCPU";
    case kVcpuMmapSize: return "KVM_GET_VCPU_MMAP_SIZE";
    case kMmapRun: return "mmap kvm_run";
    case kGetSregs: return "KVM_GET_SREGS";
    case kSetSregs: return "KVM_SET_SREGS";
    case kSetRegs: return "KVM_SET_REGS";
    case kRealRun1: return "real-mode guest: first KVM_RUN";
    case kRealExit1: return "real-mode guest: first exit (expected KVM_EXIT_IO)";
    case kRealRun2: return "real-mode guest: second KVM_RUN";
    case kRealExit2: return "real-mode guest: second exit (expected KVM_EXIT_HLT)";
    case kLongRun1: return "long-mode guest: first KVM_RUN";
    case kLongExit1:
      return "long-mode guest at the kernel's virtual address, int3 through the IDT: "
             "first exit (expected KVM_EXIT_IO from the exception handler)";
    case kLongRun2: return "long-mode guest: second KVM_RUN";
    case kLongExit2: return "long-mode guest: second exit (expected KVM_EXIT_HLT)";
  }
  return "?";
}

// Guest physical layout (one 2 MiB slot at 0):
//   0x1000 long-mode code, 0x1100 its #BP handler, 0x2000-0x4fff page tables, 0x5000 GDT, 0x6000 IDT,
//   0x8000 real-mode code.
constexpr size_t kMemSize = 0x200000;
constexpr uint64_t kKernelVa = 0xffffffff81000000ULL;  // where a standard x86_64 Linux runs its text

void writeGuest(unsigned char* mem) {
  // Real mode: mov al,0x42 ; out 0x10,al ; hlt
  const unsigned char real[] = {0xb0, 0x42, 0xe6, 0x10, 0xf4};
  std::memcpy(mem + 0x8000, real, sizeof real);
  // Long mode: int3 ; hlt. The #BP handler: mov al,0x43 ; out 0x11,al ; hlt.
  const unsigned char lm[] = {0xcc, 0xf4};
  const unsigned char handler[] = {0xb0, 0x43, 0xe6, 0x11, 0xf4};
  std::memcpy(mem + 0x1000, lm, sizeof lm);
  std::memcpy(mem + 0x1100, handler, sizeof handler);
  // 4-level paging mapping kKernelVa → physical 0 with one 2 MiB page.
  auto* pml4 = reinterpret_cast<uint64_t*>(mem + 0x2000);
  auto* pdpt = reinterpret_cast<uint64_t*>(mem + 0x3000);
  auto* pd = reinterpret_cast<uint64_t*>(mem + 0x4000);
  pml4[(kKernelVa >> 39) & 511] = 0x3000 | 3;
  pdpt[(kKernelVa >> 30) & 511] = 0x4000 | 3;
  pd[(kKernelVa >> 21) & 511] = 0x0 | 0x83;  // present, writable, 2 MiB page
  auto* gdt = reinterpret_cast<uint64_t*>(mem + 0x5000);
  gdt[1] = 0x00af9a000000ffffULL;  // 64-bit code, DPL 0
  gdt[2] = 0x00cf92000000ffffULL;  // data
  // IDT entry 3 (#BP): 64-bit interrupt gate, DPL 0, selector 8.
  uint64_t h = kKernelVa + 0x1100;
  unsigned char* e = mem + 0x6000 + 3 * 16;
  e[0] = h & 0xff; e[1] = (h >> 8) & 0xff; e[2] = 8; e[3] = 0; e[4] = 0; e[5] = 0x8e;
  e[6] = (h >> 16) & 0xff; e[7] = (h >> 24) & 0xff;
  e[8] = (h >> 32) & 0xff; e[9] = (h >> 40) & 0xff; e[10] = (h >> 48) & 0xff; e[11] = (h >> 56) & 0xff;
}

// Runs the vCPU twice, expecting an OUT of `value` to `port` and then HLT.
Report runAndCheck(int vcpu, kvm_run* run, int port, int value, int stepRun1, int stepExit1, int stepRun2,
                   int stepExit2) {
  auto exitReport = [&](int step) {
    int detail = 0;
    if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR) detail = static_cast<int>(run->internal.suberror);
    return Report{step, 0, static_cast<int>(run->exit_reason), detail};
  };
  if (::ioctl(vcpu, KVM_RUN, 0) < 0) return Report{stepRun1, errno, 0, 0};
  if (run->exit_reason != KVM_EXIT_IO) return exitReport(stepExit1);
  const auto* data = reinterpret_cast<const unsigned char*>(run) + run->io.data_offset;
  if (run->io.direction != KVM_EXIT_IO_OUT || run->io.port != port || run->io.size != 1 || *data != value)
    return Report{stepExit1, 0, KVM_EXIT_IO, (run->io.port << 8) | *data};
  if (::ioctl(vcpu, KVM_RUN, 0) < 0) return Report{stepRun2, errno, 0, 0};
  if (run->exit_reason != KVM_EXIT_HLT) return exitReport(stepExit2);
  return Report{kOk, 0, 0, 0};
}

// Runs in the forked child: only async-signal-safe calls (the daemon is multi-threaded).
// Stage 1 is the classic real-mode smoke test. Stage 2 is what a standard Linux kernel needs from its
// first instructions: 64-bit mode, paging, ring 0 at 0xffffffff81000000, and an exception delivered
// through the IDT. PVM passes stage 1 and even runs long-mode code at that address, but cannot
// deliver the exception through a standard IDT (it needs a PVM-aware guest): KVM_EXIT_INTERNAL_ERROR.
Report runGuest(const char* path) {
  auto failed = [](int step) { return Report{step, errno, 0, 0}; };
  int kvm = ::open(path, O_RDWR | O_CLOEXEC);
  if (kvm < 0) return failed(kOpen);
  int api = ::ioctl(kvm, KVM_GET_API_VERSION, 0);
  if (api != KVM_API_VERSION) return Report{kApiVersion, api < 0 ? errno : 0, 0, api};
  int vm = ::ioctl(kvm, KVM_CREATE_VM, 0UL);
  if (vm < 0) return failed(kCreateVm);
  void* memp = ::mmap(nullptr, kMemSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memp == MAP_FAILED) return failed(kMmapMem);
  auto* mem = static_cast<unsigned char*>(memp);
  writeGuest(mem);
  struct kvm_userspace_memory_region region {};
  region.slot = 0;
  region.guest_phys_addr = 0;
  region.memory_size = kMemSize;
  region.userspace_addr = reinterpret_cast<__u64>(mem);
  if (::ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) return failed(kSetMemory);
  int runSize = ::ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (runSize <= 0) return failed(kVcpuMmapSize);

  for (unsigned long id = 0; id < 2; ++id) {
    int vcpu = ::ioctl(vm, KVM_CREATE_VCPU, id);
    if (vcpu < 0) return failed(kCreateVcpu);
    auto* run = static_cast<kvm_run*>(
        ::mmap(nullptr, static_cast<size_t>(runSize), PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0));
    if (run == MAP_FAILED) return failed(kMmapRun);
    struct kvm_sregs sregs {};
    if (::ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) return failed(kGetSregs);
    struct kvm_regs regs {};
    regs.rflags = 0x2;  // bit 1 is reserved and must be set
    if (id == 0) {
      sregs.cs.base = 0;
      sregs.cs.selector = 0;
      regs.rip = 0x8000;
    } else {
      sregs.cr3 = 0x2000;
      sregs.cr4 = 1u << 5;              // PAE
      sregs.cr0 = 0x80050033;           // PE MP ET NE WP AM PG
      sregs.efer = 0x500;               // LME LMA
      kvm_segment cs{};
      cs.limit = 0xffffffff; cs.selector = 8; cs.type = 11; cs.present = 1; cs.s = 1; cs.l = 1; cs.g = 1;
      kvm_segment ds = cs;
      ds.type = 3; ds.selector = 16; ds.l = 0; ds.db = 1;
      sregs.cs = cs;
      sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = ds;
      sregs.gdt.base = kKernelVa + 0x5000;
      sregs.gdt.limit = 23;
      sregs.idt.base = kKernelVa + 0x6000;
      sregs.idt.limit = 16 * 4 - 1;
      regs.rip = kKernelVa + 0x1000;
      regs.rsp = kKernelVa + 0x1f0000;
    }
    if (::ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) return failed(kSetSregs);
    if (::ioctl(vcpu, KVM_SET_REGS, &regs) < 0) return failed(kSetRegs);
    Report r = id == 0 ? runAndCheck(vcpu, run, 0x10, 0x42, kRealRun1, kRealExit1, kRealRun2, kRealExit2)
                       : runAndCheck(vcpu, run, 0x11, 0x43, kLongRun1, kLongExit1, kLongRun2, kLongExit2);
    if (r.step != kOk) return r;
  }
  return Report{kOk, 0, 0, 0};
}

std::string describe(const Report& r, const std::string& path, bool pvmLoaded) {
  std::string s = path + ": " + stepName(r.step);
  if (r.err) s += " failed: " + std::string(std::strerror(r.err));
  if (r.step == kApiVersion && !r.err) s += " returned " + std::to_string(r.detail) + " (expected 12)";
  if (r.step >= kRealRun1 && !r.err) {
    s += "; got exit reason " + std::to_string(r.exitReason);
    if (r.exitReason == KVM_EXIT_IO) s += " with wrong port/data " + std::to_string(r.detail);
    if (r.exitReason == KVM_EXIT_FAIL_ENTRY) s += " (KVM_EXIT_FAIL_ENTRY: hardware refused the guest state)";
    if (r.exitReason == KVM_EXIT_INTERNAL_ERROR)
      s += " (KVM_EXIT_INTERNAL_ERROR, suberror " + std::to_string(r.detail) + ")";
    if (r.exitReason == KVM_EXIT_SHUTDOWN) s += " (KVM_EXIT_SHUTDOWN: triple fault)";
  }
  if (pvmLoaded) s += "; the kvm_pvm module is loaded: this KVM runs only PVM-patched guest kernels";
  return s;
}

}  // namespace

KvmProbeResult probeKvm(const std::string& devicePath, std::chrono::milliseconds deadline) {
  int fds[2];
  KATA_SYSCALL(::pipe2(fds, O_CLOEXEC), "kvm probe pipe");
  UniqueFd readEnd(fds[0]), writeEnd(fds[1]);
  pid_t pid = KATA_SYSCALL(::fork(), "kvm probe");
  if (pid == 0) {
    Report r = runGuest(devicePath.c_str());
    (void)!::write(writeEnd.get(), &r, sizeof r);
    ::_exit(0);
  }
  writeEnd.reset();
  Report report{};
  bool got = false;
  std::string failure;
  auto end = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      failure = devicePath + ": the probe guest did not finish within " + std::to_string(deadline.count()) +
                " ms (KVM_RUN hung)";
      break;
    }
    struct pollfd p {readEnd.get(), POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      failure = std::string("poll on the probe pipe failed: ") + std::strerror(errno);
      break;
    }
    if (n == 0) continue;
    ssize_t got_bytes = ::read(readEnd.get(), &report, sizeof report);
    if (got_bytes == static_cast<ssize_t>(sizeof report)) got = true;
    else failure = devicePath + ": the probe child died before reporting (crashed in a KVM call?)";
    break;
  }
  // The child is killed unconditionally: after a report it is exiting anyway, after a timeout it
  // may be stuck in KVM_RUN. SIGKILL cannot be blocked, and waitpid then reaps it promptly.
  (void)::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!got) return {false, failure};
  if (report.step != kOk) return {false, describe(report, devicePath, pathExists("/sys/module/kvm_pvm"))};
  return {true, devicePath + ": ran a real-mode guest and a long-mode guest taking an exception through its IDT"};
}

Accel resolveAccel(Accel requested, const Logger& log, const std::string& devicePath) {
  if (requested == Accel::kTcg) return Accel::kTcg;
  KvmProbeResult probe = probeKvm(devicePath);
  if (probe.usable) return Accel::kKvm;
  if (requested == Accel::kKvm)
    fail(ErrorKind::kFailedPrecondition,
         "accel = \"kvm\" but KVM cannot run a guest here (" + probe.reason +
             "); use accel = \"auto\" or \"tcg\" to run under software emulation");
  log.warn("KVM is unusable, falling back to TCG software emulation (slow): " + probe.reason);
  return Accel::kTcg;
}

}  // namespace kata::vmmd
