// The thread that drives one VM. Calls to a hypervisor can block for as long as their deadline
// (a QMP call waits up to 10 s for a QEMU that does not answer, a stop escalation up to the
// client's timeout, a launch until QEMU's QMP greeting). Running them on the daemon's one event
// loop would stall every other client for that long; running them here stalls only the callers of
// the same VM, whose calls are serialized anyway.
//
// The event loop hands a job to run(); the job runs on the worker thread; its result (or error) is
// marshalled back with a cross-thread fulfiller and the returned promise resolves on the loop. The
// worker needs no event loop of its own. Jobs run one at a time, in the order they were queued.
//
// Ownership rule for what a job touches (the VM's QemuHypervisor): only the worker thread, or the
// loop thread while idle() — no job queued or running. Only the loop thread queues jobs, so an idle
// worker stays idle until the loop itself queues the next one.
//
// A promise the loop drops (a client that disconnected) does not cancel its job: the job runs to
// its end (its deadlines bound it) and its result is discarded. The thread starts with the first
// job, so a daemon can create workers before hardenDaemon (which must run single-threaded).
#pragma once

#include <kj/async.h>
#include <kj/function.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>

#include "common/error.h"

namespace kata::vmmd {

// A kata::Error in the form the RPC layer hands to clients: "<kind>: <message>" (ipc/vmmd_client.h
// parses it back into the same kind).
kj::Exception rpcException(const Error& error);

class VmWorker {
 public:
  explicit VmWorker(std::string name) : name_(std::move(name)) {}
  // Runs what is queued, then ends the thread.
  ~VmWorker();
  VmWorker(const VmWorker&) = delete;
  VmWorker& operator=(const VmWorker&) = delete;

  // Called on the event loop thread. A kata::Error thrown by the job rejects the promise with
  // rpcException(error); anything else with an "internal:" error.
  template <typename T, typename Job>
  kj::Promise<T> run(Job&& job) {
    // The result travels in a slot the worker fills before it fulfills a void promise: the loop
    // reads it only after that promise resolved (the fulfiller's hand-off orders the two).
    using Value = std::conditional_t<std::is_void_v<T>, bool, T>;
    auto slot = std::make_shared<std::optional<Value>>();
    auto paf = kj::newPromiseAndCrossThreadFulfiller<void>();
    post([this, slot, job = kj::fwd<Job>(job), fulfiller = kj::mv(paf.fulfiller)]() mutable {
      kj::Maybe<kj::Exception> failure = attempt([&] {
        if constexpr (std::is_void_v<T>) {
          job();
          slot->emplace(true);
        } else {
          slot->emplace(job());
        }
      });
      finished();
      KJ_IF_MAYBE(e, failure) { fulfiller->reject(kj::mv(*e)); }
      else fulfiller->fulfill();
    });
    return paf.promise.then([slot]() -> T {
      if constexpr (!std::is_void_v<T>) return std::move(**slot);
    });
  }

  // No job queued or running (see the ownership rule above). Called on the loop thread.
  bool idle() const { return pending_.load(std::memory_order_acquire) == 0; }
  // Waits for the queued jobs and ends the thread; later run() calls start it again.
  void join();

 private:
  void post(kj::Function<void()> job);
  void finished() { pending_.fetch_sub(1, std::memory_order_release); }
  static kj::Maybe<kj::Exception> attempt(kj::Function<void()> body);
  void loop();

  std::string name_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<kj::Function<void()>> queue_;
  bool stopping_ = false;
  std::atomic<unsigned> pending_{0};
  std::thread thread_;
};

}  // namespace kata::vmmd
