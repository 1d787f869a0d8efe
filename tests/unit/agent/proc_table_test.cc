// Container.processList's /proc reader against fake /proc trees in a temp dir, and once against the
// real /proc (this test process itself).
#include "agent/proc_table.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "common/error.h"
#include "common/fs.h"

namespace kata::agent {
namespace {

class FakeProc {
 public:
  FakeProc() {
    char tmpl[] = "/tmp/kata-fake-proc-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throwSysError(errno, "mkdtemp");
    root_ = tmpl;
  }
  ~FakeProc() { removeTree(AT_FDCWD, root_); }
  void file(const std::string& rel, const std::string& text) {
    std::string path = root_ + "/" + rel;
    makeDirs(path.substr(0, path.rfind('/')), 0755);
    writeFileAtomic(openDir(path.substr(0, path.rfind('/'))).get(), path.substr(path.rfind('/') + 1), text, 0644);
  }
  // A process as the kernel shows it: stat fields 1-22 (the rest of the line does not matter).
  void process(pid_t pid, const std::string& comm, char state, pid_t ppid, int ttyNr, uint64_t utime, uint64_t stime,
               uint64_t start, uint32_t uid, const std::string& cmdline) {
    std::string p = std::to_string(pid);
    file(p + "/stat", p + " (" + comm + ") " + state + " " + std::to_string(ppid) + " " + p + " " + p + " " +
                          std::to_string(ttyNr) + " -1 4194304 100 0 0 0 " + std::to_string(utime) + " " +
                          std::to_string(stime) + " 0 0 20 0 1 0 " + std::to_string(start) +
                          " 4505600 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n");
    file(p + "/status", "Name:\t" + comm + "\nState:\t" + state + "\nPPid:\t" + std::to_string(ppid) + "\nUid:\t" +
                            std::to_string(uid) + "\t" + std::to_string(uid + 1) + "\t" + std::to_string(uid) + "\t" +
                            std::to_string(uid) + "\nGid:\t0\t0\t0\t0\n");
    file(p + "/cmdline", cmdline);
    file(p + "/comm", comm + "\n");
  }
  const std::string& root() const { return root_; }

 private:
  std::string root_;
};

const char kDrivers[] =
    "/dev/tty             /dev/tty        5       0 system:/dev/tty\n"
    "/dev/console         /dev/console    5       1 system:console\n"
    "/dev/ptmx            /dev/ptmx       5       2 system\n"
    "/dev/vc/0            /dev/vc/0       4       0 system:vtmaster\n"
    "serial               /dev/ttyS       4 64-95 serial\n"
    "pty_slave            /dev/pts      136 0-1048575 pty:slave\n"
    "pty_master           /dev/ptm      128 0-1048575 pty:master\n"
    "unknown              /dev/tty        4 1-63 console\n";

// The kernel's new_encode_dev.
int encodeDev(unsigned major, unsigned minor) {
  return static_cast<int>((minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12));
}

TEST(ProcTableTest, ReadsWhatPsShowsFromAFakeProc) {
  FakeProc proc;
  proc.file("tty/drivers", kDrivers);
  // sh -c 'sleep 100' on pts/3: sh is the container's init (parent: the agent, pid 1), sleep its child.
  proc.process(41, "sh", 'S', 1, encodeDev(136, 3), 7, 3, 500, 0, std::string("sh\0-c\0sleep 100\0", 16));
  proc.process(42, "sleep", 'S', 41, 0, 0, 1, 550, 1000, std::string("sleep\0" "100\0", 10));
  ClockSnapshot clock;
  clock.realtimeNs = 1'700'000'000'000'000'000;
  clock.boottimeNs = 20'000'000'000;  // booted 20 s ago
  clock.ticksPerSecond = 100;
  auto list = ProcTable(proc.root()).list({41, 42, 43}, clock);  // 43 does not exist (exited): left out
  ASSERT_EQ(list.size(), 2u);
  const ProcessEntry& sh = list[0];
  EXPECT_EQ(sh.pid, 41);
  EXPECT_EQ(sh.ppid, 1);
  EXPECT_EQ(sh.uid, 0u);
  EXPECT_EQ(sh.tty, "pts/3");
  EXPECT_EQ(sh.cmdline, (std::vector<std::string>{"sh", "-c", "sleep 100"}));
  EXPECT_EQ(sh.comm, "sh");
  EXPECT_EQ(sh.state, "S");
  EXPECT_EQ(sh.cpuTimeNs, 100'000'000u);  // 10 ticks of 10 ms
  // Started 5 s after boot: 15 s before "now".
  EXPECT_EQ(sh.startWallNs, clock.realtimeNs - 15'000'000'000);
  const ProcessEntry& sleep = list[1];
  EXPECT_EQ(sleep.ppid, 41);
  EXPECT_EQ(sleep.uid, 1000u);  // the real uid, not the effective one (1001)
  EXPECT_EQ(sleep.tty, "?");
  EXPECT_EQ(sleep.cmdline, (std::vector<std::string>{"sleep", "100"}));
  EXPECT_EQ(sleep.startWallNs, clock.realtimeNs - 14'500'000'000);
}

TEST(ProcTableTest, ZombiesAndKernelThreadsHaveNoArgvAndCommKeepsOddCharacters) {
  FakeProc proc;
  proc.process(7, "a) b (c", 'Z', 1, 0, 0, 0, 1, 0, "");
  auto e = ProcTable(proc.root()).read(7, ClockSnapshot{});
  ASSERT_TRUE(e);
  EXPECT_EQ(e->comm, "a) b (c");
  EXPECT_EQ(e->state, "Z");
  EXPECT_TRUE(e->cmdline.empty());
  EXPECT_EQ(e->ppid, 1);
}

TEST(ProcTableTest, ParsesStatAfterTheLastParenthesis) {
  auto st = parseProcStat("9 (x) y)) R 3 9 9 34817 -1 0 0 0 0 0 11 22 0 0 20 0 1 0 333 0 0\n");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->comm, "x) y)");
  EXPECT_EQ(st->state, 'R');
  EXPECT_EQ(st->ppid, 3);
  EXPECT_EQ(st->ttyNr, 34817u);
  EXPECT_EQ(st->utimeTicks, 11u);
  EXPECT_EQ(st->stimeTicks, 22u);
  EXPECT_EQ(st->startTicks, 333u);
  EXPECT_FALSE(parseProcStat(""));
  EXPECT_FALSE(parseProcStat("9 (x) R 3"));        // truncated
  EXPECT_FALSE(parseProcStat("x (y) R 3 9 9 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 1 0"));  // pid not a number
  EXPECT_FALSE(parseProcStat("9 (y) RR 3 9 9 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 1 0"));  // state not a letter
}

TEST(ProcTableTest, MalformedStatOfAnExistingProcessIsAnErrorNotACrash) {
  FakeProc proc;
  proc.file("5/stat", "garbage");
  proc.file("5/status", "Uid:\t0\t0\t0\t0\n");
  proc.file("5/cmdline", "");
  proc.file("5/comm", "x\n");
  EXPECT_THROW(ProcTable(proc.root()).read(5, ClockSnapshot{}), Error);
}

TEST(ProcTableTest, NamesTerminalsLikePs) {
  EXPECT_EQ(ttyName(0, kDrivers), "?");
  EXPECT_EQ(ttyName(static_cast<uint64_t>(encodeDev(136, 0)), kDrivers), "pts/0");
  EXPECT_EQ(ttyName(static_cast<uint64_t>(encodeDev(136, 300)), kDrivers), "pts/300");  // 20-bit minor
  EXPECT_EQ(ttyName(static_cast<uint64_t>(encodeDev(137, 4)), ""), "pts/260");           // old kernels
  EXPECT_EQ(ttyName(static_cast<uint64_t>(encodeDev(4, 64)), kDrivers), "ttyS0");
  EXPECT_EQ(ttyName(static_cast<uint64_t>(encodeDev(4, 65)), kDrivers), "ttyS1");
  EXPECT_EQ(ttyName(static_cast<uint64_t>(encodeDev(4, 2)), kDrivers), "tty2");
  EXPECT_EQ(ttyName(static_cast<uint64_t>(encodeDev(5, 1)), kDrivers), "console");
  EXPECT_EQ(ttyName(static_cast<uint64_t>(encodeDev(250, 7)), kDrivers), "250:7");
}

TEST(ProcTableTest, StatusUidAndCmdlineBounds) {
  EXPECT_EQ(parseStatusUid("Uid:\t5\t6\t7\t8\n"), 5u);
  EXPECT_EQ(parseStatusUid("Name:\tx\nUid:\t65534\t0\t0\t0\nGid:\t1\n"), 65534u);
  EXPECT_FALSE(parseStatusUid("Name:\tx\n"));
  EXPECT_FALSE(parseStatusUid("Uid:\tabc\n"));
  std::string many;
  for (int i = 0; i < 5000; ++i) many += std::string("a") + '\0';
  EXPECT_EQ(parseCmdline(many).size(), kMaxCmdlineArgs);
  // No trailing NUL (a process that rewrote its argv): the last argument still counts.
  EXPECT_EQ(parseCmdline(std::string("a\0b", 3)), (std::vector<std::string>{"a", "b"}));
}

TEST(ProcTableTest, ReadsItselfFromTheRealProc) {
  ClockSnapshot clock = ClockSnapshot::now();
  auto e = ProcTable("/proc").read(::getpid(), clock);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->pid, ::getpid());
  EXPECT_EQ(e->ppid, ::getppid());
  EXPECT_EQ(e->uid, ::getuid());
  EXPECT_EQ(e->state, "R");  // it is reading its own stat
  ASSERT_FALSE(e->cmdline.empty());
  EXPECT_NE(e->cmdline[0].find("kata-unit-tests"), std::string::npos);
  EXPECT_LE(e->startWallNs, clock.realtimeNs);
  EXPECT_GT(e->startWallNs, clock.realtimeNs - 3600ll * 1'000'000'000);  // started within the hour
}

}  // namespace
}  // namespace kata::agent
