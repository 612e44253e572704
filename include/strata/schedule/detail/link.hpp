#pragma once
/// \file
/// \brief Both ends of the dispatcher's request stream to one worker (SPEC R10c): rank 0 holds what it
/// issues while the worker is unreachable and resends it in order when the worker answers again; the
/// worker applies requests in sequence order and drops repeats. Plain values, testable without MPI.

#include <strata/schedule/task.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace strata::schedule::detail {

/// A request to a worker (an assignment or the shutdown), its sequence number not yet written.
struct request {
  int tag = 0;
  std::vector<std::byte> body;
};

/// Rank 0's side of the stream to one worker, and what rank 0 knows of that worker's health beyond
/// the heartbeat counts: whether it is suspected (missed a health check), stuck (an attempt timed
/// out while it kept heartbeating), and the host it runs on.
///
/// Sequence numbers are given when a request is actually sent, so requests held and then dropped
/// (their tasks were taken back) leave no gap the worker would wait for.
class worker_link {
 public:
  /// \brief A request with the sequence number it goes out under.
  struct outgoing {
    std::uint64_t seq = 0;
    request req;
  };

  /// \brief Issues `r`: returns it numbered when it may go now, or holds it (and returns nothing).
  [[nodiscard]] std::vector<outgoing> issue(request r) {
    if (suspected_) {
      held_.push_back(std::move(r));
      return {};
    }
    std::vector<outgoing> out;
    out.push_back({++sent_, std::move(r)});
    return out;
  }
  /// \brief The worker missed a health check: hold what is issued from now on. False if it already was.
  bool suspect() { return !std::exchange(suspected_, true); }
  /// \brief The worker answered again: what was held, numbered in issue order, to send now.
  [[nodiscard]] std::vector<outgoing> resume() {
    suspected_ = false;
    std::vector<outgoing> out;
    out.reserve(held_.size());
    for (auto& r : held_) out.push_back({++sent_, std::move(r)});
    held_.clear();
    return out;
  }
  /// \brief Drops held requests with tag `tag` (their tasks were taken back); returns how many.
  std::size_t drop_held(int tag) {
    auto const before = held_.size();
    std::erase_if(held_, [tag](request const& r) { return r.tag == tag; });
    return before - held_.size();
  }

  /// \brief An attempt on this worker timed out while it kept heartbeating.
  void mark_stuck(clock::time_point now) {
    stuck_ = true;
    stuck_since_ = now;
  }
  /// \brief It answered: it is out of the task it was stuck in. False if it was not stuck.
  bool clear_stuck() { return std::exchange(stuck_, false); }

  /// \brief Unhealthy past `grace` at `now`: stuck that long, or silent that long (suspected or dead,
  /// `last_heard` being its last sign of life). `grace` of zero: never.
  [[nodiscard]] bool lost(clock::time_point now, clock::time_point last_heard, clock::duration grace) const {
    if (grace <= clock::duration::zero()) return false;
    if (stuck_ && now - stuck_since_ > grace) return true;
    return suspected_ && now - last_heard > grace;
  }

  [[nodiscard]] bool suspected() const noexcept { return suspected_; }
  [[nodiscard]] bool stuck() const noexcept { return stuck_; }
  [[nodiscard]] clock::time_point stuck_since() const noexcept { return stuck_since_; }
  [[nodiscard]] std::size_t held() const noexcept { return held_.size(); }
  [[nodiscard]] std::uint64_t sent() const noexcept { return sent_; }

  std::string host;  ///< from the worker's hello; empty until it arrives

 private:
  std::deque<request> held_;
  std::uint64_t sent_ = 0;
  bool suspected_ = false;
  bool stuck_ = false;
  clock::time_point stuck_since_{};
};

/// The worker's side: applies requests in sequence order, keeps ones that arrive early until the gap
/// before them is filled, and drops repeats.
template <class Message>
class in_order_inbox {
 public:
  /// \brief Accepts request `seq`; returns the requests now ready, in sequence order (empty for a repeat
  /// or an early one).
  [[nodiscard]] std::vector<std::pair<std::uint64_t, Message>> accept(std::uint64_t seq, Message m) {
    std::vector<std::pair<std::uint64_t, Message>> ready;
    if (seq < next_ || early_.contains(seq)) {
      ++repeats_;
      return ready;
    }
    early_.emplace(seq, std::move(m));
    for (auto it = early_.begin(); it != early_.end() && it->first == next_; it = early_.erase(it), ++next_)
      ready.emplace_back(it->first, std::move(it->second));
    return ready;
  }
  [[nodiscard]] std::uint64_t next_expected() const noexcept { return next_; }
  [[nodiscard]] std::size_t waiting() const noexcept { return early_.size(); }
  [[nodiscard]] std::size_t repeats() const noexcept { return repeats_; }

 private:
  std::uint64_t next_ = 1;
  std::map<std::uint64_t, Message> early_;
  std::size_t repeats_ = 0;
};

}  // namespace strata::schedule::detail
