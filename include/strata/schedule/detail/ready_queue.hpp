#pragma once
/// \file
/// \brief The dispatcher's queue of runnable tasks, ordered by a priority policy. Not API.

#include <strata/schedule/priority.hpp>

#include <cstddef>
#include <cstdint>
#include <set>
#include <vector>

namespace strata::schedule::detail {

/// Runnable tasks, highest score first, ties by submission sequence. Holds
/// pointers to tasks owned elsewhere (stable addresses required).
///
/// Time-invariant policies keep an ordered set (log n push and pop); policies
/// whose score changes while a task waits are rescored on each pop (linear),
/// which stays cheap for the queue lengths one rank dispatches.
template <class Priority, class Task>
class ready_queue {
 public:
  explicit ready_queue(Priority p = {}) : policy_(p) {}

  void push(Task const* t, std::uint64_t seq, clock::time_point now) {
    if constexpr (Priority::time_invariant) {
      ordered_.insert(entry{static_cast<double>(policy_.score(*t, now)), seq, t});
    } else {
      items_.push_back(entry{0.0, seq, t});
    }
  }

  /// The task to run next, removed from the queue; nullptr when empty.
  Task const* pop(clock::time_point now) {
    if constexpr (Priority::time_invariant) {
      if (ordered_.empty()) return nullptr;
      auto it = ordered_.begin();
      Task const* t = it->task;
      ordered_.erase(it);
      return t;
    } else {
      if (items_.empty()) return nullptr;
      std::size_t best = 0;
      double best_score = policy_.score(*items_[0].task, now);
      for (std::size_t i = 1; i < items_.size(); ++i) {
        double const s = policy_.score(*items_[i].task, now);
        if (s > best_score || (s == best_score && items_[i].seq < items_[best].seq)) {
          best = i;
          best_score = s;
        }
      }
      Task const* t = items_[best].task;
      items_[best] = items_.back();
      items_.pop_back();
      return t;
    }
  }

  /// Removes every task for which `pred(task)` holds, calling `removed(task)` on each.
  template <class Pred, class Removed>
  void remove_if(Pred&& pred, Removed&& removed) {
    if constexpr (Priority::time_invariant) {
      for (auto it = ordered_.begin(); it != ordered_.end();) {
        if (pred(*it->task)) {
          removed(*it->task);
          it = ordered_.erase(it);
        } else {
          ++it;
        }
      }
    } else {
      std::size_t out = 0;
      for (std::size_t i = 0; i < items_.size(); ++i) {
        if (pred(*items_[i].task))
          removed(*items_[i].task);
        else
          items_[out++] = items_[i];
      }
      items_.resize(out);
    }
  }

  [[nodiscard]] std::size_t size() const noexcept {
    if constexpr (Priority::time_invariant) return ordered_.size();
    else return items_.size();
  }
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }
  [[nodiscard]] Priority const& policy() const noexcept { return policy_; }

 private:
  struct entry {
    double score;
    std::uint64_t seq;
    Task const* task;
    bool operator<(entry const& o) const noexcept {
      if (score != o.score) return score > o.score;  // higher score first
      return seq < o.seq;
    }
  };
  Priority policy_;
  std::set<entry> ordered_;
  std::vector<entry> items_;
};

}  // namespace strata::schedule::detail
