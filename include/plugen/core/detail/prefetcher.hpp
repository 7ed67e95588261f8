#pragma once
/// @file
/// A one-slot pipeline stage: a function computed on a long-lived thread, one request ahead of its caller. Used
/// where one thread should overlap with the next step of another (generation's sampling, the PNG writer of
/// `decode_to_pngs`). Torch-free.

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

namespace plugen::detail {

/// Computes `fn(request)` on its own long-lived thread, one request ahead: `request` hands over the next input,
/// `get` waits for its result (rethrowing what `fn` threw). `close` (or the destructor) waits for the request in
/// progress and stops the thread.
template <class In, class Out>
class Prefetcher {
 public:
  explicit Prefetcher(std::function<Out(const In&)> fn) : fn_(std::move(fn)), thread_([this] { loop(); }) {}
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;
  ~Prefetcher() { close(); }

  /// Starts computing fn(in); the previous result must have been taken by `get`.
  void request(In in) {
    std::lock_guard<std::mutex> lock(mutex_);
    input_ = std::move(in);
    has_input_ = true;
    has_output_ = false;
    cv_.notify_all();
  }
  /// The result of the last request, once computed.
  Out get() {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return has_output_; });
    has_output_ = false;
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
    return std::move(output_);
  }
  /// Stops the thread after the request in progress.
  void close() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (closing_) return;
      closing_ = true;
      cv_.notify_all();
    }
    thread_.join();
  }

 private:
  void loop() {
    for (;;) {
      In in;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return closing_ || has_input_; });
        if (closing_) return;  // a request not started yet is dropped
        in = std::move(input_);
        has_input_ = false;
      }
      Out out;
      std::exception_ptr error;
      try {
        out = fn_(in);
      } catch (...) {
        error = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(mutex_);
      output_ = std::move(out);
      error_ = error;
      has_output_ = true;
      cv_.notify_all();
    }
  }

  std::function<Out(const In&)> fn_;
  std::mutex mutex_;
  std::condition_variable cv_;
  In input_;
  Out output_;
  std::exception_ptr error_;
  bool has_input_ = false, has_output_ = false, closing_ = false;
  std::thread thread_;  // last: started once the rest is initialized
};

}  // namespace plugen::detail
