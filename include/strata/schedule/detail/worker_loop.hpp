#pragma once
/// \file
/// \brief The worker side of the dispatcher: runs the tasks rank 0 sends, in request order (SPEC R10c),
/// answers each, and says it is alive from a heartbeat thread at a fixed period. Not API.

#include <strata/comm/concepts.hpp>
#include <strata/error.hpp>
#include <strata/schedule/detail/link.hpp>
#include <strata/schedule/detail/polling.hpp>
#include <strata/schedule/detail/protocol.hpp>
#include <strata/schedule/task.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace strata::schedule {

/// \brief What a worker's function is given.
struct task_context {
  task_id id = 0;
  unsigned attempt = 0;                  ///< 1 for the first run, 2 for the first retry, ...
  std::span<const std::byte> payload;
  int rank = 0;                          ///< the rank running it
  std::uint64_t sequence = 0;            ///< the request's sequence number on this worker: applied in increasing order
};

}  // namespace strata::schedule

namespace strata::schedule::detail {

/// Runs one task on a worker; returns its result bytes, throws to report a failure.
using work_fn = std::function<std::vector<std::byte>(task_context const&)>;

/// One attempt: the function's result, or what it threw as the failure; the result-size limit applied.
inline result_msg execute(work_fn const& work, task_context const& c, std::uint64_t result_seq,
                          std::size_t max_result_bytes) {
  result_msg r;
  r.seq = result_seq;
  r.id = c.id;
  r.attempt = c.attempt;
  auto const t0 = clock::now();
  try {
    r.result = work(c);
    r.ok = true;
    enforce_result_limit(r, max_result_bytes);
  } catch (std::exception const& e) {
    r.ok = false;
    r.error = e.what();
  } catch (...) {
    r.ok = false;
    r.error = "unknown exception";
  }
  r.elapsed_s = std::chrono::duration<double>(clock::now() - t0).count();
  return r;
}

/// The worker's share of `dispatcher_options`.
struct worker_options {
  seconds heartbeat_period{0.25};
  std::size_t max_result_bytes = std::size_t{1} << 20;
  std::function<std::pair<std::uint64_t, std::uint64_t>()> memory_probe;  ///< free and total bytes
  std::function<void(std::string_view)> log;
};

/// A worker rank's loop over a communicator it shares with its heartbeat thread (every use under one mutex).
template <class Comm>
class worker_loop {
 public:
  worker_loop(Comm& comm, worker_options opt) : comm_(comm), opt_(std::move(opt)) {}
  worker_loop(worker_loop const&) = delete;
  worker_loop& operator=(worker_loop const&) = delete;

  /// Runs what rank 0 sends until its shutdown; then stops the heartbeats and says goodbye.
  void serve(work_fn const& work) {
    say_hello();
    std::atomic<bool> stop{false};
    std::atomic<std::uint32_t> queue_length{0};
    std::atomic<double> recent_latency{0.0};
    std::thread heartbeat([&] { beat(stop, queue_length, recent_latency); });
    try {
      requests(work, queue_length, recent_latency);
    } catch (...) {
      stop.store(true);
      heartbeat.join();
      throw;
    }
    stop.store(true);
    heartbeat.join();
    // Last message of this worker, after its last heartbeat: rank 0 waits for it before it lets the
    // communicator go (see dispatcher::shutdown_workers).
    comm_.send({}, 0, tag_bye);
  }

  /// Asks rank 0 for the queue counts (from inside a task, while rank 0 routes).
  [[nodiscard]] queue_counts query() const {
    std::lock_guard lock{comm_mutex_};
    comm_.send({}, 0, tag_query);
    std::vector<std::byte> buf;
    comm_.recv(buf, 0, tag_query_reply);
    return decode_counts(buf);
  }

  /// Fault injection: no heartbeats and a sleep of `d`, as a hung node would (from inside a task).
  void simulate_hang(seconds d) {
    auto const until = clock::now() + std::chrono::duration_cast<clock::duration>(d);
    hang_until_.store(until.time_since_epoch().count());
    log("fault injection: hanging for " + std::to_string(d.count()) + " s without heartbeats");
    std::this_thread::sleep_until(until);
  }

 private:
  /// A request as the worker keeps it until its turn comes.
  struct request_in {
    int tag = 0;
    assign_msg assign;  // for tag_assign
  };

  void requests(work_fn const& work, std::atomic<std::uint32_t>& queue_length, std::atomic<double>& recent_latency) {
    std::uint64_t seq = 0;
    unsigned idle = 0;
    std::vector<std::byte> buf;
    in_order_inbox<request_in> inbox;
    for (bool done = false; !done;) {
      std::optional<comm::message_info> info;
      {
        std::lock_guard lock{comm_mutex_};
        info = next_message(comm_, 0, buf);
      }
      idle_wait(info.has_value(), idle);
      if (!info) continue;
      for (auto& [rseq, req] : accept_request(inbox, info->tag, buf)) {
        if (req.tag == tag_shutdown) {
          done = true;
          break;
        }
        auto const& a = req.assign;
        queue_length.store(1);
        auto r = execute(work, task_context{a.id, a.attempt, a.payload, comm_.rank(), rseq}, ++seq,
                         opt_.max_result_bytes);
        queue_length.store(0);
        recent_latency.store(r.elapsed_s);
        auto const msg = encode(r);
        std::lock_guard lock{comm_mutex_};
        comm_.send(msg, 0, tag_result);
      }
    }
  }

  /// The heartbeat thread: a beat every `heartbeat_period` until `stop` (none while a hang is simulated).
  void beat(std::atomic<bool> const& stop, std::atomic<std::uint32_t> const& queue_length,
            std::atomic<double> const& recent_latency) {
    std::uint64_t seq = 0;
    auto next = clock::now();
    auto const period = std::chrono::duration_cast<clock::duration>(opt_.heartbeat_period);
    auto const nap = std::min(std::chrono::duration_cast<std::chrono::milliseconds>(opt_.heartbeat_period / 4),
                              std::chrono::milliseconds(20)) +
                     std::chrono::microseconds(100);
    while (!stop.load()) {
      auto const now = clock::now();
      if (now >= next && now.time_since_epoch().count() >= hang_until_.load()) {
        auto [free, total] = memory();
        auto const msg = encode(heartbeat_msg{++seq, queue_length.load(), free, total, recent_latency.load()});
        {
          std::lock_guard lock{comm_mutex_};
          comm_.send(msg, 0, tag_heartbeat);
        }
        next = now + period;
      }
      std::this_thread::sleep_for(nap);
    }
  }

  /// Decodes a request from rank 0 and hands it to the inbox; returns those now due, in order.
  std::vector<std::pair<std::uint64_t, request_in>> accept_request(in_order_inbox<request_in>& inbox, int tag,
                                                                   std::vector<std::byte> const& buf) const {
    if (tag != tag_assign && tag != tag_shutdown) {
      log("unexpected message with tag " + std::to_string(tag) + " from rank 0; dropped");
      return {};
    }
    request_in in{tag, {}};
    std::uint64_t seq = 0;
    try {
      if (tag == tag_assign) {
        in.assign = decode_assign(buf);
        seq = in.assign.seq;
      } else {
        seq = decode_request_seq(buf);
      }
    } catch (strata::error const& e) {
      log(std::string("malformed ") + (tag == tag_assign ? "assignment" : "shutdown") + " from rank 0 (" + e.what() +
          "); dropped");
      return {};
    }
    auto const repeats = inbox.repeats();
    auto ready = inbox.accept(seq, std::move(in));
    if (inbox.repeats() != repeats)
      log("repeated request (sequence " + std::to_string(seq) + ") from rank 0; dropped");
    else if (ready.empty())
      log("request sequence " + std::to_string(seq) + " arrived before " + std::to_string(inbox.next_expected()) +
          "; kept until the ones before it arrive");
    return ready;
  }

  /// Its first message, naming the host it runs on (for rank 0's messages about it).
  void say_hello() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    std::string_view const h{host};
    std::lock_guard lock{comm_mutex_};
    comm_.send(std::as_bytes(std::span(h.data(), h.size())), 0, tag_hello);
  }

  [[nodiscard]] std::pair<std::uint64_t, std::uint64_t> memory() const {
    if (opt_.memory_probe) return opt_.memory_probe();
    auto const page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    return {static_cast<std::uint64_t>(::sysconf(_SC_AVPHYS_PAGES)) * page,
            static_cast<std::uint64_t>(::sysconf(_SC_PHYS_PAGES)) * page};
  }

  void log(std::string const& m) const {
    if (opt_.log) opt_.log(m);
  }

  Comm& comm_;
  worker_options opt_;
  mutable std::mutex comm_mutex_;
  std::atomic<clock::rep> hang_until_{0};
};

}  // namespace strata::schedule::detail
