// VmWorker: jobs run on its own thread, in order, one at a time; results and typed errors come back
// to the caller's event loop; a dropped promise neither blocks the loop nor cancels the job.
#include "kata-vmmd/vm_worker.h"

#include <gtest/gtest.h>
#include <kj/async-io.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "common/error.h"
#include "ipc/vmmd_client.h"

namespace kata::vmmd {
namespace {

using Clock = std::chrono::steady_clock;

// A job that waits until the test opens it.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  void wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [this] { return open; });
  }
  void release() {
    {
      std::lock_guard<std::mutex> lock(mu);
      open = true;
    }
    cv.notify_all();
  }
};

TEST(VmWorker, RunsJobsOnItsThreadInOrderAndHandsBackResults) {
  auto io = kj::setupAsyncIo();
  VmWorker worker("t1");
  EXPECT_TRUE(worker.idle());
  std::vector<int> order;  // written only by the worker thread, read after it finished
  std::thread::id caller = std::this_thread::get_id(), ran;
  auto a = worker.run<int>([&] {
    ran = std::this_thread::get_id();
    order.push_back(1);
    return 41;
  });
  auto b = worker.run<void>([&] { order.push_back(2); });
  auto c = worker.run<std::string>([&] {
    order.push_back(3);
    return std::string("three");
  });
  EXPECT_EQ(a.wait(io.waitScope), 41);
  b.wait(io.waitScope);
  EXPECT_EQ(c.wait(io.waitScope), "three");
  EXPECT_NE(ran, caller);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_TRUE(worker.idle());
}

TEST(VmWorker, AKataErrorComesBackWithItsKind) {
  auto io = kj::setupAsyncIo();
  VmWorker worker("t2");
  auto p = worker.run<int>([]() -> int { fail(ErrorKind::kTimeout, "QMP query-status got no reply"); });
  try {
    p.wait(io.waitScope);
    FAIL() << "no error";
  } catch (const kj::Exception& e) {
    Error back = ipc::errorFromRemote(e.getDescription().cStr());
    EXPECT_EQ(back.kind(), ErrorKind::kTimeout);
    EXPECT_STREQ(back.what(), "QMP query-status got no reply");
  }
  auto q = worker.run<void>([] { throw std::runtime_error("boom"); });
  try {
    q.wait(io.waitScope);
    FAIL() << "no error";
  } catch (const kj::Exception& e) {
    EXPECT_EQ(ipc::errorFromRemote(e.getDescription().cStr()).kind(), ErrorKind::kInternal);
  }
}

TEST(VmWorker, BusyWhileAJobRunsAndADroppedPromiseBlocksNothing) {
  auto io = kj::setupAsyncIo();
  VmWorker worker("t3");
  Gate gate;
  std::atomic<bool> finished{false};
  auto t0 = Clock::now();
  {
    auto p = worker.run<int>([&] {
      gate.wait();
      finished = true;
      return 1;
    });
    EXPECT_FALSE(worker.idle());
  }  // the caller goes away (a client disconnected): dropping its promise must not wait for the job
  auto later = worker.run<int>([] { return 2; });  // queued behind the blocked job
  EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(500));
  EXPECT_FALSE(worker.idle());
  EXPECT_FALSE(finished);
  gate.release();
  EXPECT_EQ(later.wait(io.waitScope), 2);  // the dropped job ran to its end first
  EXPECT_TRUE(finished);
  EXPECT_TRUE(worker.idle());
}

TEST(VmWorker, JoinWaitsForQueuedJobsAndTheWorkerStartsAgain) {
  auto io = kj::setupAsyncIo();
  VmWorker worker("t4");
  std::atomic<int> done{0};
  for (int i = 0; i < 5; ++i) {
    auto p = worker.run<void>([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      ++done;
    });
    (void)p;  // dropped at once
  }
  worker.join();
  EXPECT_EQ(done, 5);
  EXPECT_EQ(worker.run<int>([] { return 7; }).wait(io.waitScope), 7);
}

}  // namespace
}  // namespace kata::vmmd
