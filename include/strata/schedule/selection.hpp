#pragma once
/// \file
/// \brief Worker selection policies (SPEC S2, S5): `round_robin`, `least_loaded`, `filter_score`,
/// `ewma_proportional`, and their concept.
///
/// A policy sees a read-only view of the workers' status and picks one for a
/// task. The dispatcher tells it which entry changed (`update`), so policies
/// that keep an index (a tournament tree, a sum tree) pay O(log n) per change
/// and per decision instead of scanning thousands of workers.

#include <strata/error.hpp>
#include <strata/schedule/detail/select_tree.hpp>
#include <strata/schedule/ewma.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace strata::schedule {

/// \brief What the dispatcher knows about one worker.
struct worker_status {
  int rank = -1;                   ///< the worker's rank in the communicator
  bool alive = true;               ///< false once health checks declared it dead (SPEC R6)
  bool available = true;           ///< alive and below its in-flight cap: may take a task now
  std::uint32_t in_flight = 0;     ///< tasks assigned and not yet answered
  std::uint32_t queue_length = 0;  ///< tasks waiting on the worker, from its last heartbeat
  std::uint64_t free_memory = 0;   ///< bytes free, from its last heartbeat
  std::uint64_t total_memory = 0;  ///< bytes in all, from its last heartbeat
  double latency_s = 0.0;          ///< recent response time (an EWMA kept by the dispatcher)
  double last_response_s = 0.0;    ///< the newest response time
  std::uint64_t responses = 0;     ///< responses seen so far

  /// \brief free / total memory, 1 when the worker did not report its memory.
  [[nodiscard]] constexpr double free_memory_ratio() const noexcept {
    return total_memory == 0 ? 1.0 : static_cast<double>(free_memory) / static_cast<double>(total_memory);
  }
  friend bool operator==(worker_status const&, worker_status const&) = default;
};

/// \brief The read-only view of all workers a policy decides over.
using worker_view = std::span<const worker_status>;

/// \brief What the task being placed needs.
struct selection_request {
  std::uint64_t memory_needed = 0;  ///< bytes of free memory required (SPEC S2 filter)
};

/// \brief Round robin: the next available worker after the last one chosen.
struct round_robin {
  [[nodiscard]] std::optional<std::size_t> select(worker_view w, selection_request const&) {
    for (std::size_t k = 0; k < w.size(); ++k) {
      std::size_t const i = (next_ + k) % w.size();
      if (w[i].available) {
        next_ = i + 1;
        return i;
      }
    }
    return std::nullopt;
  }
  void update(worker_view, std::size_t) noexcept {}
  friend bool operator==(round_robin const&, round_robin const&) = default;

 private:
  std::size_t next_ = 0;
};

/// \brief Least loaded: fewest tasks in flight, then lowest recent latency. O(log n) per decision.
struct least_loaded {
  [[nodiscard]] std::optional<std::size_t> select(worker_view w, selection_request const&) {
    sync(w);
    return tree_.best(1);
  }
  void update(worker_view w, std::size_t i) {
    if (tree_.size() != w.size()) return sync(w);
    tree_.set(i, key(w[i]), w[i].available ? 1 : 0);
  }
  /// \brief No parameters: all least_loaded policies are equal (the index is a cache).
  friend bool operator==(least_loaded const&, least_loaded const&) noexcept { return true; }

 private:
  static double key(worker_status const& s) noexcept {
    // in-flight count first; latency (squashed into [0, 1)) breaks ties.
    return static_cast<double>(s.in_flight) + s.latency_s / (1.0 + s.latency_s);
  }
  void sync(worker_view w) {
    if (tree_.size() == w.size()) return;
    tree_.resize(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) tree_.set(i, key(w[i]), w[i].available ? 1 : 0);
  }
  detail::min_tree<double> tree_;
};

/// \brief SPEC S2, filter then score: drop workers without `memory_needed` free, score the rest by
/// `latency * (1 + memory_weight * (1 - free_memory_ratio))`, lowest wins. O(log n) typical per decision.
struct filter_score {
  double memory_weight = 0.5;  ///< the 0.5 of SPEC S2

  /// \brief The S2 score of one worker (lower is better).
  [[nodiscard]] constexpr double score(worker_status const& s) const noexcept {
    return s.latency_s * (1.0 + memory_weight * (1.0 - s.free_memory_ratio()));
  }
  [[nodiscard]] std::optional<std::size_t> select(worker_view w, selection_request const& r) {
    sync(w);
    // capacity = free memory + 1, so 0 marks an unavailable worker.
    std::uint64_t const need = r.memory_needed == UINT64_MAX ? UINT64_MAX : r.memory_needed + 1;
    return tree_.best(need);
  }
  void update(worker_view w, std::size_t i) {
    if (tree_.size() != w.size()) return sync(w);
    set(w, i);
  }
  friend bool operator==(filter_score const& a, filter_score const& b) { return a.memory_weight == b.memory_weight; }

 private:
  void set(worker_view w, std::size_t i) {
    auto const& s = w[i];
    std::uint64_t const cap = !s.available ? 0 : (s.free_memory == UINT64_MAX ? UINT64_MAX : s.free_memory + 1);
    tree_.set(i, score(s), cap);
  }
  void sync(worker_view w) {
    if (tree_.size() == w.size()) return;
    tree_.resize(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) set(w, i);
  }
  detail::min_tree<double> tree_;
};

/// \brief SPEC S5: EWMA load per worker `L_i = a * R_i + (1 - a) * L_i`, worker i picked with
/// probability `(1 / L_i) / sum_j (1 / L_j)` from a seeded generator. O(log n) per decision.
///
/// \code
/// strata::schedule::ewma_proportional pick{0.8, /*seed*/ 7};
/// \endcode
class ewma_proportional {
 public:
  /// \brief `alpha` must lie in [0.7, 0.9] (SPEC S5); `initial_load_s` is assumed for a worker not yet measured.
  explicit ewma_proportional(double alpha = 0.8, std::uint64_t seed = 0x5eed, double initial_load_s = 1e-3)
      : alpha_(alpha), initial_load_s_(initial_load_s), seed_(seed), rng_(seed) {
    if (!(alpha >= 0.7 && alpha <= 0.9))
      throw usage_error("ewma_proportional: alpha must be in [0.7, 0.9] (SPEC S5), got " + std::to_string(alpha));
    if (!(initial_load_s > 0.0)) throw usage_error("ewma_proportional: initial_load_s must be positive");
  }

  [[nodiscard]] std::optional<std::size_t> select(worker_view w, selection_request const&) {
    sync(w);
    double const total = weights_.total();
    if (!(total > 0.0)) return std::nullopt;
    double const u = std::uniform_real_distribution<double>(0.0, total)(rng_);
    std::size_t const i = weights_.find(u);
    if (i >= w.size() || !w[i].available) return std::nullopt;  // unreachable: zero weights are never found
    return i;
  }
  void update(worker_view w, std::size_t i) {
    if (loads_.size() != w.size()) return sync(w);
    refresh(w, i);
  }
  /// \brief The current load estimate of worker `i` (seconds).
  [[nodiscard]] double load(std::size_t i) const noexcept {
    return i < loads_.size() && loads_[i].has_value() ? loads_[i].value() : initial_load_s_;
  }
  [[nodiscard]] double alpha() const noexcept { return alpha_; }
  friend bool operator==(ewma_proportional const& a, ewma_proportional const& b) {
    return a.alpha_ == b.alpha_ && a.initial_load_s_ == b.initial_load_s_ && a.seed_ == b.seed_;
  }

 private:
  void refresh(worker_view w, std::size_t i) {
    auto const& s = w[i];
    if (s.responses != seen_[i]) {  // fold in the newest response time
      loads_[i].add(s.last_response_s);
      seen_[i] = s.responses;
    }
    double const l = std::max(load(i), 1e-9);
    weights_.set(i, s.available ? 1.0 / l : 0.0);
  }
  void sync(worker_view w) {
    if (loads_.size() == w.size()) return;
    loads_.assign(w.size(), ewma{alpha_});
    seen_.assign(w.size(), 0);
    weights_.resize(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) {
      seen_[i] = w[i].responses;  // history before the policy saw the worker is not replayed
      if (w[i].responses > 0) loads_[i].add(w[i].last_response_s);
      refresh(w, i);
    }
  }

  double alpha_;
  double initial_load_s_;
  std::uint64_t seed_;
  std::mt19937_64 rng_;
  std::vector<ewma> loads_;
  std::vector<std::uint64_t> seen_;
  detail::sum_tree weights_;
};

/// \brief A selection policy: a small value type that picks an available worker for a request, and is told
/// when a worker's status changed.
template <class S>
concept selection_policy = std::copy_constructible<S> && std::equality_comparable<S> &&
    requires(S& s, worker_view w, std::size_t i, selection_request const& r) {
      { s.select(w, r) } -> std::same_as<std::optional<std::size_t>>;
      s.update(w, i);
    };

static_assert(selection_policy<round_robin> && selection_policy<least_loaded> && selection_policy<filter_score> &&
              selection_policy<ewma_proportional>);

namespace detail {
template <class S>
consteval bool diagnose_selection_policy() {
  static_assert(selection_policy<S>,
                "strata::schedule: the Selection policy must be a copyable, comparable value type with "
                "`std::optional<std::size_t> select(worker_view, selection_request const&)` and "
                "`void update(worker_view, std::size_t)` (see round_robin, least_loaded, filter_score, "
                "ewma_proportional)");
  return selection_policy<S>;
}
}  // namespace detail

/// \brief `selection_policy`, with a readable static_assert when it is not met (used by the dispatcher).
template <class S>
concept checked_selection_policy = detail::diagnose_selection_policy<S>();

}  // namespace strata::schedule
