#pragma once
/// \file
/// \brief The dispatcher's queue of runnable tasks, ordered by a priority policy. Not API.

#include <strata/error.hpp>
#include <strata/schedule/priority.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <type_traits>
#include <utility>
#include <vector>

namespace strata::schedule::detail {

/// Runnable tasks, highest score first, ties by submission sequence; reference version for any policy:
/// every pop rescores the whole queue (linear). Holds pointers to tasks owned elsewhere (stable addresses).
template <class Priority, class Task>
class rescoring_queue {
 public:
  explicit rescoring_queue(Priority p = {}) : policy_(p) {}

  void push(Task const* t, std::uint64_t seq, clock::time_point) { items_.push_back(entry{seq, t}); }

  Task const* pop(clock::time_point now) {
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

  template <class Pred, class Removed>
  void remove_if(Pred&& pred, Removed&& removed) {
    std::size_t out = 0;
    for (std::size_t i = 0; i < items_.size(); ++i) {
      if (pred(*items_[i].task))
        removed(*items_[i].task);
      else
        items_[out++] = items_[i];
    }
    items_.resize(out);
  }
  [[nodiscard]] std::size_t size() const noexcept { return items_.size(); }
  [[nodiscard]] bool empty() const noexcept { return items_.empty(); }
  [[nodiscard]] Priority const& policy() const noexcept { return policy_; }

 private:
  struct entry {
    std::uint64_t seq;
    Task const* task;
  };
  Priority policy_;
  std::vector<entry> items_;
};

/// Time-invariant policies: an ordered set (log n push and pop).
template <class Priority, class Task>
class static_queue {
 public:
  explicit static_queue(Priority p = {}) : policy_(p) {}
  void push(Task const* t, std::uint64_t seq, clock::time_point now) {
    ordered_.insert(entry{static_cast<double>(policy_.score(*t, now)), seq, t});
  }
  Task const* pop(clock::time_point) {
    if (ordered_.empty()) return nullptr;
    auto it = ordered_.begin();
    Task const* t = it->task;
    ordered_.erase(it);
    return t;
  }
  template <class Pred, class Removed>
  void remove_if(Pred&& pred, Removed&& removed) {
    for (auto it = ordered_.begin(); it != ordered_.end();) {
      if (pred(*it->task)) {
        removed(*it->task);
        it = ordered_.erase(it);
      } else {
        ++it;
      }
    }
  }
  [[nodiscard]] std::size_t size() const noexcept { return ordered_.size(); }
  [[nodiscard]] bool empty() const noexcept { return ordered_.empty(); }
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
};

/// A policy whose score is `base(t) + rate * min(max(0, now - created), limit_s)`: constant before the task's
/// creation time, growing linearly while it waits, constant again once the ageing cap is reached
/// (`weighted_ageing` is one).
template <class P, class Task>
concept piecewise_linear_ageing = requires(P const& p, Task const& t) {
  { p.base_score(t) } -> std::convertible_to<double>;
  { p.ageing_per_second() } -> std::convertible_to<double>;
  { p.ageing_limit_s() } -> std::convertible_to<double>;
};

/// Exact and O(log n) per push and pop for `piecewise_linear_ageing` policies.
///
/// Each task is in one of three phases, and moves forward through them as time passes (each move happens
/// once per task, so the moves cost O(log n) amortised per task):
///   - not yet created (now < created): score = base, constant;
///   - ageing: score = base + rate * (now - created) = [base - rate * created] + rate * now. The bracket is
///     constant, and `rate * now` is common to every ageing task, so ordering the phase by the bracket
///     orders it by score at every instant;
///   - capped (now - created >= limit): score = base + rate * limit, constant.
/// Each phase keeps a set ordered by its constant key and, for the first two, an index by creation time that
/// says who moves next. A pop advances the phases to `now`, then compares the three phase leaders by their
/// score computed with the policy itself, ties to the lower sequence number: the same order as rescoring
/// every task (up to rounding when two different tasks' scores agree to ~1e-15).
///
/// `now` is expected not to go backwards between pops; if it does, the phases are rebuilt (O(n log n)).
template <class Priority, class Task>
class ageing_queue {
 public:
  explicit ageing_queue(Priority p = {}) : policy_(p) {
    rate_ = policy_.ageing_per_second();
    limit_ = policy_.ageing_limit_s();
    if (!(limit_ >= 0.0)) throw usage_error("ready_queue: the ageing limit must not be negative");
  }

  void push(Task const* t, std::uint64_t seq, clock::time_point) {
    if (size_ == 0 && !has_epoch_) {
      epoch_ = t->created();
      has_epoch_ = true;
    }
    insert_future(item{t, seq, created_s(*t), static_cast<double>(policy_.base_score(*t))});
    ++size_;
  }

  Task const* pop(clock::time_point now) {
    if (size_ == 0) return nullptr;
    advance(now);
    // the leader of each phase; the best of them by the policy's own score
    int phase = -1;
    item const* best = nullptr;
    double best_score = 0.0;
    auto consider = [&](auto const& set, int ph) {
      if (set.empty()) return;
      item const& c = set.begin()->it;
      double const s = policy_.score(*c.task, now);
      if (!best || s > best_score || (s == best_score && c.seq < best->seq)) {
        best = &c;
        best_score = s;
        phase = ph;
      }
    };
    consider(future_, 0);
    consider(ageing_, 1);
    consider(capped_, 2);
    item const chosen = *best;
    if (phase == 0) {
      future_.erase(future_.begin());
      future_by_created_.erase(stamp{chosen.created, chosen.seq, 0.0});
    } else if (phase == 1) {
      ageing_.erase(ageing_.begin());
      ageing_by_created_.erase(stamp{chosen.created, chosen.seq, 0.0});
    } else {
      capped_.erase(capped_.begin());
    }
    --size_;
    return chosen.task;
  }

  template <class Pred, class Removed>
  void remove_if(Pred&& pred, Removed&& removed) {
    auto sweep = [&](auto& set, auto* by_created) {
      for (auto it = set.begin(); it != set.end();) {
        if (pred(*it->it.task)) {
          removed(*it->it.task);
          if (by_created) by_created->erase(stamp{it->it.created, it->it.seq, 0.0});
          it = set.erase(it);
          --size_;
        } else {
          ++it;
        }
      }
    };
    sweep(future_, &future_by_created_);
    sweep(ageing_, &ageing_by_created_);
    sweep(capped_, static_cast<by_created*>(nullptr));
  }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] Priority const& policy() const noexcept { return policy_; }

 private:
  struct item {
    Task const* task;
    std::uint64_t seq;
    double created;  // seconds since epoch_
    double base;
  };
  struct keyed {
    double key;  // higher first
    item it;
    bool operator<(keyed const& o) const noexcept {
      if (key != o.key) return key > o.key;
      return it.seq < o.it.seq;
    }
  };
  struct stamp {  // (creation time, sequence) -> the key the task has in its phase's ordered set
    double created;
    std::uint64_t seq;
    double key;
    bool operator<(stamp const& o) const noexcept {
      if (created != o.created) return created < o.created;
      return seq < o.seq;
    }
  };
  using by_created = std::set<stamp>;

  double created_s(Task const& t) const { return seconds(t.created() - epoch_).count(); }

  void insert_future(item const& i) {
    future_.insert(keyed{i.base, i});
    future_by_created_.insert(stamp{i.created, i.seq, i.base});
  }

  /// Moves tasks whose phase changed by `now` forward.
  void advance(clock::time_point now) {
    double const t = seconds(now - epoch_).count();
    if (has_now_ && t < now_s_) return rebuild(now);
    has_now_ = true;
    now_s_ = t;
    // created by now: future -> ageing
    while (!future_by_created_.empty() && future_by_created_.begin()->created <= t) {
      stamp const st = *future_by_created_.begin();
      future_by_created_.erase(future_by_created_.begin());
      auto it = future_.find(keyed{st.key, item{nullptr, st.seq, 0.0, 0.0}});
      item const i = it->it;
      future_.erase(it);
      to_ageing(i, t);
    }
    // waited the full ageing limit: ageing -> capped
    while (!ageing_by_created_.empty() && t - ageing_by_created_.begin()->created >= limit_) {
      stamp const st = *ageing_by_created_.begin();
      ageing_by_created_.erase(ageing_by_created_.begin());
      auto it = ageing_.find(keyed{st.key, item{nullptr, st.seq, 0.0, 0.0}});
      item const i = it->it;
      ageing_.erase(it);
      capped_.insert(keyed{i.base, i});
    }
  }

  void to_ageing(item const& i, double t) {
    if (t - i.created >= limit_) {
      capped_.insert(keyed{i.base, i});
    } else {
      double const key = i.base - rate_ * i.created;
      ageing_.insert(keyed{key, i});
      ageing_by_created_.insert(stamp{i.created, i.seq, key});
    }
  }

  void rebuild(clock::time_point now) {
    std::vector<item> all;
    for (auto const& k : future_) all.push_back(k.it);
    for (auto const& k : ageing_) all.push_back(k.it);
    for (auto const& k : capped_) all.push_back(k.it);
    future_.clear();
    ageing_.clear();
    capped_.clear();
    future_by_created_.clear();
    ageing_by_created_.clear();
    for (auto const& i : all) insert_future(i);
    has_now_ = false;
    advance(now);
  }

  Priority policy_;
  double rate_ = 0.0;
  double limit_ = 0.0;
  clock::time_point epoch_{};
  bool has_epoch_ = false;
  bool has_now_ = false;
  double now_s_ = 0.0;  // the latest pop's time, seconds since epoch_
  std::size_t size_ = 0;
  std::set<keyed> future_, ageing_, capped_;
  by_created future_by_created_, ageing_by_created_;
};

/// The queue the dispatcher uses: an ordered set for time-invariant policies, the phase index for
/// piecewise-linear ageing (weighted_ageing), full rescoring for any other policy.
template <class Priority, class Task>
using ready_queue = std::conditional_t<
    Priority::time_invariant, static_queue<Priority, Task>,
    std::conditional_t<piecewise_linear_ageing<Priority, Task>, ageing_queue<Priority, Task>,
                       rescoring_queue<Priority, Task>>>;

}  // namespace strata::schedule::detail
