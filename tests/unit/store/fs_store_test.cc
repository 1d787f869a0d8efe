#include "runtime/store/fs_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>

#include "common/error.h"
#include "common/fs.h"

namespace kata::store {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::set<std::string> dirEntries(const std::string& path) {
  std::set<std::string> out;
  DIR* d = opendir(path.c_str());
  if (!d) return out;
  while (auto* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.insert(n);
  }
  closedir(d);
  return out;
}

// Runs body in a forked child that never returns into gtest (an escaping exception would make
// the child run the remaining tests, and their TearDown, as a second test runner).
template <typename F>
pid_t forkChild(F body) {
  pid_t pid = fork();
  if (pid == 0) {
    try {
      body();
    } catch (...) {
      _exit(1);
    }
    _exit(0);
  }
  return pid;
}

// A forked helper process, killed and reaped on scope exit.
struct ChildProc {
  pid_t pid = -1;
  ~ChildProc() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
  int wait() {
    int st = 0;
    waitpid(pid, &st, 0);
    pid = -1;
    return st;
  }
};

class FsStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kata-store-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/root";
    store_ = std::make_unique<FsMetadataStore>(root_);
  }
  void TearDown() override { removeTree(AT_FDCWD, dir_); }

  // Blocks until the child writes a byte to the pipe (it reached a point it announces).
  static void waitFor(int fd) {
    char c;
    ASSERT_EQ(read(fd, &c, 1), 1);
  }

  std::string dir_;
  std::string root_;
  std::unique_ptr<FsMetadataStore> store_;
};

TEST_F(FsStoreTest, SaveLoadRemoveList) {
  EXPECT_EQ(store_->load("c1/state.json"), std::nullopt);
  store_->save("c1/state.json", "one");
  store_->save("c2/state.json", "two");
  store_->save("c10/x/y", "deep");
  store_->save("top", "t");
  EXPECT_EQ(store_->load("c1/state.json"), "one");
  store_->save("c1/state.json", "uno");
  EXPECT_EQ(store_->load("c1/state.json"), "uno");
  EXPECT_EQ(store_->list(""), (std::vector<std::string>{"c1/state.json", "c10/x/y", "c2/state.json", "top"}));
  EXPECT_EQ(store_->list("c1"), (std::vector<std::string>{"c1/state.json", "c10/x/y"}));
  EXPECT_EQ(store_->list("c1/"), (std::vector<std::string>{"c1/state.json"}));
  EXPECT_EQ(store_->list("c10/x/"), (std::vector<std::string>{"c10/x/y"}));
  EXPECT_EQ(store_->list("nothing/"), std::vector<std::string>{});
  EXPECT_TRUE(store_->remove("c1/state.json"));
  EXPECT_FALSE(store_->remove("c1/state.json"));
  EXPECT_EQ(store_->load("c1/state.json"), std::nullopt);
  EXPECT_TRUE(store_->remove("c10/x/y"));
  // directories emptied by remove() go too; the lock directory stays
  EXPECT_EQ(dirEntries(root_), (std::set<std::string>{"@locks", "c2", "top"}));
  struct stat st {};
  ASSERT_EQ(stat((root_ + "/c2/state.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(FsStoreTest, KeysAreValidated) {
  for (const std::string& bad : std::vector<std::string>{"", "/abs", "../x", "a/../b", "a/./b", "a//b", "a/", ".", "a b", "a\\b", "a:b",
                                "x/.state.json.tmp123", std::string(300, 'k'), std::string(1100, 'k'), "a/b/c/d/e/f/g/h/i"}) {
    EXPECT_THROW(store_->save(bad, "v"), Error) << bad;
    EXPECT_THROW(store_->load(bad), Error) << bad;
    EXPECT_THROW(store_->remove(bad), Error) << bad;
    EXPECT_THROW(store_->lock(bad, 10ms), Error) << bad;
  }
  try {
    store_->load("../etc/passwd");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("\"..\""), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(validateKey(".hidden/state.json"));
  EXPECT_NO_THROW(validateKey("a,b=c+d_e-f.g"));
}

TEST_F(FsStoreTest, SymlinksInTheTreeAreNeverFollowed) {
  std::string outside = dir_ + "/outside";
  ASSERT_EQ(mkdir(outside.c_str(), 0700), 0);
  ASSERT_EQ(symlink(outside.c_str(), (root_ + "/evil").c_str()), 0);
  EXPECT_THROW(store_->save("evil/state.json", "x"), Error);
  EXPECT_THROW(store_->load("evil/state.json"), Error);
  EXPECT_TRUE(dirEntries(outside).empty());
  writeFileAtomic(openDir(outside).get(), "secret", "s");
  ASSERT_EQ(symlink((outside + "/secret").c_str(), (root_ + "/link").c_str()), 0);
  EXPECT_THROW(store_->load("link"), Error);
  EXPECT_EQ(store_->list(""), std::vector<std::string>{});  // symlinks are not values
}

TEST_F(FsStoreTest, ValueSizeIsBounded) {
  FsMetadataStore small(root_, 16);
  EXPECT_NO_THROW(small.save("k", std::string(16, 'x')));
  try {
    small.save("k", std::string(17, 'x'));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
  }
  EXPECT_EQ(small.load("k"), std::string(16, 'x'));
  store_->save("k", std::string(100, 'y'));  // written by a store with a larger bound
  EXPECT_THROW(small.load("k"), Error);
}

TEST_F(FsStoreTest, SaveKilledMidWayLeavesOldOrNewValueNeverGarbage) {
  // Large values make each save take a while, so SIGKILL lands inside writes and renames.
  const std::string a(300000, 'a'), b(200000, 'b');
  store_->save("c/state.json", a);
  for (int round = 0; round < 12; ++round) {
    ChildProc child;
    child.pid = forkChild([&] {
      FsMetadataStore s(root_);
      for (int i = 0;; ++i) s.save("c/state.json", i % 2 ? a : b);
    });
    ASSERT_GE(child.pid, 0);
    std::this_thread::sleep_for(std::chrono::microseconds(2000 + round * 1500));
    kill(child.pid, SIGKILL);
    child.wait();
    auto v = store_->load("c/state.json");
    ASSERT_TRUE(v.has_value());
    ASSERT_TRUE(*v == a || *v == b) << "round " << round << ": value of " << v->size() << " bytes";
  }
  EXPECT_EQ(store_->list(""), std::vector<std::string>{"c/state.json"});  // temporaries are not keys
  EXPECT_TRUE(store_->remove("c/state.json"));
  EXPECT_EQ(dirEntries(root_), std::set<std::string>{"@locks"}) << "remove() left the directory behind";
}

TEST_F(FsStoreTest, LockSerializesProcessesOnOneKey) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  ChildProc child;
  child.pid = forkChild([&] {
    FsMetadataStore s(root_);
    auto l = s.lock("c1");
    (void)!write(p[1], "x", 1);
    std::this_thread::sleep_for(300ms);
    s.save("c1/state.json", "from child");
  });
  waitFor(p[0]);
  auto start = Clock::now();
  EXPECT_THROW(
      {
        try {
          store_->lock("c1", 50ms);
        } catch (const Error& e) {
          EXPECT_EQ(e.kind(), ErrorKind::kTimeout);
          throw;
        }
      },
      Error);
  auto l = store_->lock("c1");
  EXPECT_GE(Clock::now() - start, 250ms);
  // the child's write happened inside its critical section, before we got the lock
  EXPECT_EQ(store_->load("c1/state.json"), "from child");
  EXPECT_EQ(child.wait(), 0);
  close(p[0]);
  close(p[1]);
}

TEST_F(FsStoreTest, DifferentKeysDoNotBlockEachOther) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  ChildProc child;
  child.pid = forkChild([&] {
    FsMetadataStore s(root_);
    auto l = s.lock("c1");
    (void)!write(p[1], "x", 1);
    std::this_thread::sleep_for(5s);
  });
  waitFor(p[0]);
  auto start = Clock::now();
  auto l2 = store_->lock("c2", 1s);
  auto l3 = store_->lock("c1-other", 1s);
  EXPECT_LT(Clock::now() - start, 200ms);
  EXPECT_THROW(store_->lock("c1", 20ms), Error);
  close(p[0]);
  close(p[1]);
}

TEST_F(FsStoreTest, LockOfKilledHolderIsFreeAndLockFilesDoNotPileUp) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  ChildProc child;
  child.pid = forkChild([&] {
    FsMetadataStore s(root_);
    auto l = s.lock("c1");
    (void)!write(p[1], "x", 1);
    pause();
  });
  waitFor(p[0]);
  kill(child.pid, SIGKILL);
  child.wait();
  EXPECT_NO_THROW(store_->lock("c1", 100ms));
  for (int i = 0; i < 20; ++i) store_->lock("k" + std::to_string(i));
  EXPECT_TRUE(dirEntries(root_ + "/@locks").empty());
  close(p[0]);
  close(p[1]);
}

TEST_F(FsStoreTest, ConcurrentLockersAreMutuallyExclusive) {
  // Several processes increment a counter under the lock; a lost update would show a lower count.
  store_->save("n", "0");
  constexpr int kProcs = 4, kIters = 25;
  std::vector<ChildProc> children(kProcs);
  for (auto& c : children) {
    c.pid = forkChild([&] {
      FsMetadataStore s(root_);
      for (int i = 0; i < kIters; ++i) {
        auto l = s.lock("n");
        int v = std::stoi(*s.load("n"));
        s.save("n", std::to_string(v + 1));
      }
    });
  }
  for (auto& c : children) EXPECT_EQ(c.wait(), 0);
  EXPECT_EQ(store_->load("n"), std::to_string(kProcs * kIters));
  EXPECT_TRUE(dirEntries(root_ + "/@locks").empty());
}

}  // namespace
}  // namespace kata::store
