#pragma once
/// \file
/// \brief `checkpoint::async_writer`: the background thread that encodes, writes and commits
/// staged checkpoints while the application computes (SPEC R11).
///
/// Queue discipline (bounded: one job in flight, at most one waiting):
/// - a job waits only behind the one in flight; a new job that finds another one still waiting
///   either *replaces* it (the caller decides, collectively, when the waiting one is periodic: a
///   forced checkpoint overtakes periodic ones, and a newer periodic state supersedes an older one
///   that was never written), or *blocks* the caller until the waiting one has started;
/// - when a job fails, the writer stops: the waiting job and any job pushed afterwards are
///   discarded until the owner acknowledges the failure (so every rank discards the same jobs);
/// - destruction drains the queue and joins the thread.

#include <cassert>
#include <cstddef>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#endif

namespace strata::checkpoint {

/// \brief Why a checkpoint was taken: a forced one (`ckpt.checkpoint()`) overtakes periodic ones.
enum class urgency : std::uint8_t { periodic = 0, forced = 1 };

/// \brief A background worker with a bounded priority queue of one waiting job and double-buffered staging.
///
/// \code
/// strata::checkpoint::async_writer<my_job> w{[](my_job& j) { write(j); }};
/// auto lock = w.hold();
/// if (!w.waiting(lock)) w.push(lock, my_job{...}, strata::checkpoint::urgency::periodic);
/// lock.unlock();
/// w.drain();
/// \endcode
/// `Buffer`: the staging buffers it keeps for reuse (the checkpointer's: `detail::staging_buffer`,
/// page-locked with Thrust's CUDA system).
template <class Job, class Buffer = std::vector<std::byte>>
class async_writer {
 public:
  using lock_type = std::unique_lock<std::mutex>;

  /// \brief Starts the thread; `run(job)` does the work and throws to report a failure.
  explicit async_writer(std::function<void(Job&)> run) : run_(std::move(run)), thread_([this] { loop(); }) {}
  async_writer(async_writer const&) = delete;
  async_writer& operator=(async_writer const&) = delete;
  /// \brief Drains what is queued (unless failed) and joins the thread.
  ~async_writer() {
    {
      lock_type l{m_};
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  /// \brief Locks the queue; the other members taking a lock refer to this one.
  [[nodiscard]] lock_type hold() { return lock_type{m_}; }

  /// \brief The urgency of the job waiting (not started), if any.
  [[nodiscard]] std::optional<urgency> waiting(lock_type const& l) const {
    held(l);
    return waiting_ ? std::optional(waiting_->second) : std::nullopt;
  }
  /// \brief Removes and returns the waiting job (it will never run).
  std::optional<Job> take_waiting(lock_type const& l) {
    held(l);
    if (!waiting_) return std::nullopt;
    auto j = std::move(waiting_->first);
    waiting_.reset();
    ++superseded_;
    return j;
  }
  /// \brief Blocks until no job is waiting (the waiting one has started, or was discarded).
  void wait_for_slot(lock_type& l) {
    held(l);
    done_cv_.wait(l, [&] { return !waiting_; });
  }
  /// \brief Queues `job`; the slot must be free. Discarded at once if the writer has failed.
  void push(lock_type const& l, Job job, urgency u) {
    held(l);
    assert(!waiting_ && "async_writer::push: the slot is taken (take_waiting or wait_for_slot first)");
    if (error_) {
      ++discarded_;
      return;
    }
    waiting_.emplace(std::move(job), u);
    cv_.notify_all();
  }

  /// \brief Blocks until nothing is queued or in flight (a staging buffer to prepare included).
  void drain() {
    lock_type l{m_};
    done_cv_.wait(l, [&] { return !waiting_ && !busy_ && !prepare_; });
  }
  /// \brief The failure that stopped the writer, if any (not yet acknowledged).
  [[nodiscard]] std::optional<std::string> failure() const {
    lock_type l{m_};
    return error_;
  }
  /// \brief Clears the failure; later jobs run again.
  void acknowledge() {
    lock_type l{m_};
    error_.reset();
  }
  /// \brief A staging buffer to reuse (double buffering: at most two are kept).
  Buffer take_buffer() {
    lock_type l{m_};
    done_cv_.wait(l, [&] { return !preparing_; });  // the rest of a buffer being made costs less than a new one
    if (pool_.empty()) return {};
    auto b = std::move(pool_.back());
    pool_.pop_back();
    return b;
  }
  /// \brief Has the writer's thread make a staging buffer with `make()` before its next job (while the
  /// application computes), kept for reuse; a failure to make one is ignored (the job makes its own).
  void prepare(std::function<Buffer()> make) {
    {
      lock_type l{m_};
      prepare_ = std::move(make);
    }
    cv_.notify_all();
  }
  /// \brief Returns a staging buffer for reuse.
  void give_buffer(Buffer b) {
    lock_type l{m_};
    if (pool_.size() < 2) pool_.push_back(std::move(b));
  }
  [[nodiscard]] std::uint64_t superseded() const {
    lock_type l{m_};
    return superseded_;
  }
  [[nodiscard]] std::uint64_t discarded() const {
    lock_type l{m_};
    return discarded_;
  }
  [[nodiscard]] std::uint64_t completed() const {
    lock_type l{m_};
    return completed_;
  }

 private:
  /// The members that take a lock must be given the one `hold()` returned, still locked.
  void held([[maybe_unused]] lock_type const& l) const {
    assert(l.mutex() == &m_ && l.owns_lock() && "async_writer: pass the lock returned by hold(), still held");
  }
  void loop() {
#if defined(__linux__)
    // Batch work: same share of the cores, but woken by a push it does not preempt the application
    // thread that pushed (which would otherwise lose its core right after the copy when the
    // machine's cores are all busy, i.e. as long again as the copy on a loaded node).
    sched_param batch{};
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &batch);
#endif
    lock_type l{m_};
    for (;;) {
      cv_.wait(l, [&] { return waiting_ || stop_ || prepare_; });
      if (prepare_ && !waiting_ && !stop_) {
        auto make = std::exchange(prepare_, nullptr);
        busy_ = preparing_ = true;
        l.unlock();
        std::optional<Buffer> b;
        try {
          b.emplace(make());
        } catch (...) {  // e.g. out of memory: the first job allocates as without it
        }
        l.lock();
        busy_ = preparing_ = false;
        if (b && pool_.size() < 2) pool_.push_back(std::move(*b));
        done_cv_.notify_all();
        continue;
      }
      prepare_ = nullptr;
      if (!waiting_) return;  // stop_ and nothing left
      auto job = std::move(waiting_->first);
      waiting_.reset();
      busy_ = true;
      done_cv_.notify_all();
      l.unlock();
      std::optional<std::string> err;
      try {
        run_(job);
      } catch (std::exception const& e) {
        err = e.what();
      } catch (...) {
        err = "unknown exception in the background checkpoint writer";
      }
      l.lock();
      busy_ = false;
      if (err) {
        error_ = std::move(err);
        if (waiting_) {
          waiting_.reset();
          ++discarded_;
        }
      } else {
        ++completed_;
      }
      done_cv_.notify_all();
    }
  }

  std::function<void(Job&)> run_;
  mutable std::mutex m_;
  std::condition_variable cv_, done_cv_;
  std::optional<std::pair<Job, urgency>> waiting_;
  std::function<Buffer()> prepare_;  // a staging buffer to make before the next job
  bool preparing_ = false;            // prepare_'s buffer is being made
  bool busy_ = false, stop_ = false;
  std::optional<std::string> error_;
  std::vector<Buffer> pool_;
  std::uint64_t superseded_ = 0, discarded_ = 0, completed_ = 0;
  std::thread thread_;  // last: starts after every other member is ready
};

}  // namespace strata::checkpoint
