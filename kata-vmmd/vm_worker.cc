#include "kata-vmmd/vm_worker.h"

#include <sys/prctl.h>

#include "ipc/vmmd_client.h"

namespace kata::vmmd {

kj::Exception rpcException(const Error& e) {
  return kj::Exception(kj::Exception::Type::FAILED, __FILE__, __LINE__,
                       kj::str(ipc::errorKindTag(e.kind()), ": ", e.what()));
}

VmWorker::~VmWorker() { join(); }

void VmWorker::join() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = false;
}

void VmWorker::post(kj::Function<void()> job) {
  pending_.fetch_add(1, std::memory_order_acq_rel);
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(kj::mv(job));
    if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
  }
  cv_.notify_one();
}

kj::Maybe<kj::Exception> VmWorker::attempt(kj::Function<void()> body) {
  try {
    body();
    return nullptr;
  } catch (const Error& e) {
    return rpcException(e);
  } catch (const kj::Exception& e) {
    return kj::cp(e);
  } catch (const std::exception& e) {
    return rpcException(Error(ErrorKind::kInternal, e.what()));
  } catch (...) {
    return rpcException(Error(ErrorKind::kInternal, "unknown exception in a VM worker"));
  }
}

void VmWorker::loop() {
  // "vm:<sandbox id>" in ps/top (15 bytes at most): which VM a busy thread works for.
  std::string title = ("vm:" + name_).substr(0, 15);
  (void)::prctl(PR_SET_NAME, title.c_str(), 0, 0, 0);
  for (;;) {
    kj::Function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued has run
      job = kj::mv(queue_.front());
      queue_.pop_front();
    }
    job();
  }  // the job's captures (its fulfiller included) go away here, on this thread
}

}  // namespace kata::vmmd
