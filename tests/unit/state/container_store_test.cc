#include "runtime/state/container_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "common/time.h"
#include "runtime/store/fs_store.h"

namespace kata::state {
namespace {

using namespace std::chrono_literals;

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

int reap(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
  return st;
}

ContainerState sample(const std::string& id) {
  ContainerState s;
  s.id = id;
  s.pid = 1234;
  s.status = ContainerStatus::kCreated;
  s.bundle = "/bundles/" + id;
  s.rootfs = "/bundles/" + id + "/rootfs";
  s.created = parseRfc3339("2024-05-06T07:08:09.123456789Z");
  s.owner = "root";
  s.annotations = {{"io.kubernetes.cri.sandbox-id", "sb1"}, {"k", "<v>"}};
  s.sandboxId = "sb1";
  s.extra = {{"shimPid", 99}, {"sockets", {"a", "b"}}};
  return s;
}

class ContainerStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kata-cstore-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store_ = open();
  }
  void TearDown() override { removeTree(AT_FDCWD, dir_); }
  std::unique_ptr<ContainerStore> open() {
    return std::make_unique<ContainerStore>(std::make_unique<store::FsMetadataStore>(dir_ + "/root"));
  }
  std::string dir_;
  std::unique_ptr<ContainerStore> store_;
};

TEST_F(ContainerStoreTest, CreateLoadSaveRemoveList) {
  EXPECT_TRUE(store_->list().empty());
  {
    auto lock = store_->create(sample("c1"));
    EXPECT_EQ(lock.id(), "c1");
  }
  store_->create(sample("b.2"));
  EXPECT_EQ(store_->load("c1"), sample("c1"));
  EXPECT_EQ(store_->list(), (std::vector<std::string>{"b.2", "c1"}));
  {
    auto lock = store_->lock("c1");
    ContainerState s = store_->load("c1");
    s.status = ContainerStatus::kRunning;
    s.extra["exitCode"] = 3;
    store_->save(lock, s);
  }
  auto reloaded = open()->load("c1");  // as a later invocation sees it
  EXPECT_EQ(reloaded.status, ContainerStatus::kRunning);
  EXPECT_EQ(reloaded.extra["exitCode"], 3);
  {
    auto lock = store_->lock("c1");
    EXPECT_TRUE(store_->remove(lock));
    EXPECT_FALSE(store_->remove(lock));
  }
  EXPECT_EQ(store_->list(), std::vector<std::string>{"b.2"});
  EXPECT_FALSE(store_->exists("c1"));
}

TEST_F(ContainerStoreTest, RuncErrorMessages) {
  store_->create(sample("c1"));
  try {
    store_->create(sample("c1"));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kAlreadyExists);
    EXPECT_STREQ(e.what(), "container with given ID already exists");
  }
  try {
    store_->load("nope");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_STREQ(e.what(), "container does not exist");
  }
  for (const char* bad : {"../c1", "a/b", "..", "a b"}) {
    try {
      store_->load(bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_STREQ(e.what(), "invalid container ID format") << bad;
    }
    EXPECT_THROW(store_->lock(bad), Error);
  }
  auto lock = store_->lock("c1");
  EXPECT_THROW(store_->save(lock, sample("other")), Error);  // a lock guards only its own container
}

TEST_F(ContainerStoreTest, CorruptStateIsNamedListedAndRemovable) {
  store_->create(sample("good"));
  store_->metadata().save(stateKey("bad"), "{\"version\":1,\"id\":\"bad\", garbage");
  store_->metadata().save(stateKey("deep"), std::string(1000, '[') + std::string(1000, ']'));
  try {
    store_->load("bad");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    std::string msg = e.what();
    EXPECT_NE(msg.find("container bad: state is corrupt"), std::string::npos) << msg;
    EXPECT_NE(msg.find("delete --force bad"), std::string::npos) << msg;
  }
  EXPECT_THROW(store_->load("deep"), Error);
  auto entries = store_->listEntries();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].id, "bad");
  EXPECT_FALSE(entries[0].state);
  EXPECT_NE(entries[0].error.find("corrupt"), std::string::npos);
  EXPECT_TRUE(entries[2].state);
  auto lock = store_->lock("bad");
  EXPECT_TRUE(store_->remove(lock));
  EXPECT_EQ(store_->list(), (std::vector<std::string>{"deep", "good"}));
}

TEST_F(ContainerStoreTest, StateValidationErrorsNameTheField) {
  auto good = sample("c1").toJson();
  auto expectError = [&](nlohmann::json j, const std::string& fragment) {
    try {
      parseState(j.dump(), "c1");
      ADD_FAILURE() << "accepted " << j.dump();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  auto j = good;
  j["status"] = "exploded";
  expectError(j, "status: unknown status \"exploded\"");
  j = good;
  j.erase("version");
  expectError(j, "version");
  j = good;
  j["version"] = 99;
  expectError(j, "format version 99");
  j = good;
  j["pid"] = -1;
  expectError(j, "pid: out of range");
  j = good;
  j["created"] = "yesterday";
  expectError(j, "created:");
  j = good;
  j["id"] = "c2";
  expectError(j, "names container \"c2\"");
  j = good;
  j["annotations"] = {{"a", 1}};
  expectError(j, "annotations.a: must be a string");
  j = good;
  j["extra"] = 5;
  expectError(j, "extra: must be an object");
  j = good;
  j["bundle"] = std::string(5000, 'x');
  expectError(j, "bundle: longer than");
  EXPECT_EQ(parseState(good.dump(), "c1"), sample("c1"));
}

TEST_F(ContainerStoreTest, WaiterSeesDeletionInsteadOfResurrecting) {
  store_->create(sample("c1"));
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  pid_t child = forkChild([&] {
    auto s = open();
    auto lock = s->lock("c1");
    (void)!write(p[1], "x", 1);
    std::this_thread::sleep_for(200ms);
    s->remove(lock);
  });
  char c;
  ASSERT_EQ(read(p[0], &c, 1), 1);
  auto lock = store_->lock("c1");  // waits until the child deleted the container
  EXPECT_EQ(store_->tryLoad("c1"), std::nullopt);
  try {
    store_->save(lock, sample("c1"));
    ADD_FAILURE() << "save brought a deleted container back";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_STREQ(e.what(), "container does not exist");
  }
  EXPECT_FALSE(store_->exists("c1"));
  EXPECT_EQ(reap(child), 0);
  close(p[0]);
  close(p[1]);
}

TEST_F(ContainerStoreTest, ConcurrentCreatorsOfOneIdOnlyOneWins) {
  constexpr int kProcs = 4;
  std::vector<pid_t> pids;
  for (int i = 0; i < kProcs; ++i) {
    pids.push_back(forkChild([&, i] {
      auto s = open();
      ContainerState st = sample("race");
      st.pid = 100 + i;
      try {
        s->create(st);
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::kAlreadyExists) _exit(2);
        throw;
      }
    }));
  }
  int winners = 0, losers = 0;
  for (pid_t pid : pids) {
    int st = reap(pid);
    ASSERT_TRUE(WIFEXITED(st));
    if (WEXITSTATUS(st) == 0) ++winners;
    if (WEXITSTATUS(st) == 2) ++losers;
  }
  EXPECT_EQ(winners, 1);
  EXPECT_EQ(losers, kProcs - 1);
}

TEST_F(ContainerStoreTest, CreatorKilledMidWayLeavesAListableDeletableContainer) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  pid_t child = forkChild([&] {
    auto s = open();
    ContainerState st = sample("half");
    st.status = ContainerStatus::kCreating;
    auto lock = s->create(st);
    (void)!write(p[1], "x", 1);
    pause();  // "starting the VM" while holding the lock
  });
  char c;
  ASSERT_EQ(read(p[0], &c, 1), 1);
  kill(child, SIGKILL);
  reap(child);
  EXPECT_EQ(store_->list(), std::vector<std::string>{"half"});
  EXPECT_EQ(store_->load("half").status, ContainerStatus::kCreating);
  auto lock = store_->lock("half", 100ms);  // the dead creator's lock is free
  EXPECT_TRUE(store_->remove(lock));
  EXPECT_TRUE(store_->list().empty());
  close(p[0]);
  close(p[1]);
}

TEST_F(ContainerStoreTest, LeftoversOfAnInterruptedFirstSaveAreHarmlessAndCleaned) {
  // A creator killed inside its first save leaves "<id>/.state.json.tmpN" and no state: the
  // container never existed for anyone, the id can be created, and remove() clears the directory.
  std::string cdir = dir_ + "/root/ghost";
  ASSERT_EQ(mkdir(cdir.c_str(), 0700), 0);
  writeFileAtomic(openDir(cdir).get(), ".state.json.tmp42", "{\"partial");
  EXPECT_TRUE(store_->list().empty());
  EXPECT_THROW(store_->load("ghost"), Error);
  {
    auto lock = store_->lock("ghost");
    EXPECT_FALSE(store_->remove(lock));
  }
  EXPECT_FALSE(pathExists(cdir));
  ASSERT_EQ(mkdir(cdir.c_str(), 0700), 0);
  writeFileAtomic(openDir(cdir).get(), ".state.json.tmp43", "{\"partial");
  store_->create(sample("ghost"));
  EXPECT_EQ(store_->load("ghost"), sample("ghost"));
}

TEST(DefaultStateRoot, RootUserAndXdg) {
  EXPECT_EQ(defaultStateRoot(0, nullptr), "/run/kata-ctl");
  EXPECT_EQ(defaultStateRoot(0, "/run/user/1000"), "/run/kata-ctl");
  EXPECT_EQ(defaultStateRoot(1000, "/run/user/1000"), "/run/user/1000/kata-ctl");
  EXPECT_EQ(defaultStateRoot(1000, "/run/user/1000/"), "/run/user/1000/kata-ctl");
  for (const char* bad : {static_cast<const char*>(nullptr), "", "relative/dir"}) {
    try {
      defaultStateRoot(1000, bad);
      ADD_FAILURE();
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("XDG_RUNTIME_DIR"), std::string::npos);
      EXPECT_NE(std::string(e.what()).find("--root"), std::string::npos);
    }
  }
}

TEST(OwnerName, KnownAndUnknownUids) {
  EXPECT_EQ(ownerName(0), "root");
  EXPECT_EQ(ownerName(987654), "#987654");
}

}  // namespace
}  // namespace kata::state
