#pragma once
/// \file
/// \brief Elastic scaling rules (SPEC S8): metrics in, scale-up / scale-down decisions out.
///
/// Defaults are SPEC S8's: scale up when p99 latency > 200 ms and utilisation
/// > 80 % have held for 5 minutes; scale down when utilisation < 60 % has held
/// for 10 minutes. A decision is acted on by checkpointing and exiting with
/// `relaunch_exit_status` (see `strata/elastic/relaunch.hpp`).

#include <strata/error.hpp>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <deque>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace strata::elastic {

/// \brief One observation of the running job.
struct metrics_sample {
  double time_s = 0.0;          ///< when it was taken (any monotonic origin)
  double p99_latency_ms = 0.0;  ///< 99th percentile latency over the last period
  double utilisation = 0.0;     ///< busy fraction of the ranks, 0..1
  friend bool operator==(metrics_sample const&, metrics_sample const&) = default;
};

/// \brief What to do about the rank count.
enum class scale_action { none, scale_up, scale_down };

/// \brief A decision: the action, the rank count to relaunch with, and why.
struct scale_decision {
  scale_action action = scale_action::none;
  int target_ranks = 0;
  std::string reason;
  friend bool operator==(scale_decision const&, scale_decision const&) = default;
};

/// \brief Name of an action ("none", "scale_up", "scale_down").
[[nodiscard]] inline constexpr char const* to_string(scale_action a) noexcept {
  switch (a) {
    case scale_action::scale_up: return "scale_up";
    case scale_action::scale_down: return "scale_down";
    default: return "none";
  }
}

/// \brief A scaling policy: a regular value type deciding from the recent samples (oldest first).
template <class P>
concept scaling_policy = std::regular<P> && requires(P const& p, std::span<const metrics_sample> history, int ranks) {
  { p.decide(history, ranks) } -> std::same_as<scale_decision>;
  { p.window_s() } -> std::convertible_to<double>;
};

/// \brief SPEC S8's threshold rules; every threshold is a parameter.
///
/// \code
/// strata::elastic::threshold_rules rules;            // S8 defaults
/// rules.up_hold_s = 60;                              // react faster
/// auto d = rules.decide(history, world.size());
/// \endcode
struct threshold_rules {
  double up_p99_ms = 200.0;        ///< scale up when p99 latency exceeds this ...
  double up_utilisation = 0.80;    ///< ... and utilisation exceeds this ...
  double up_hold_s = 300.0;        ///< ... continuously for this long
  double down_utilisation = 0.60;  ///< scale down when utilisation stays under this ...
  double down_hold_s = 600.0;      ///< ... continuously for this long
  double up_factor = 2.0;          ///< new rank count = ceil(ranks * up_factor) on scale-up
  double down_factor = 0.5;        ///< new rank count = floor(ranks * down_factor) on scale-down
  int min_ranks = 1;
  int max_ranks = 1 << 20;

  /// \brief How much history `decide` needs.
  [[nodiscard]] double window_s() const noexcept { return std::max(up_hold_s, down_hold_s); }

  [[nodiscard]] scale_decision decide(std::span<const metrics_sample> history, int ranks) const {
    if (history.empty()) return {scale_action::none, ranks, "no samples"};
    auto hot = [&](metrics_sample const& s) { return s.p99_latency_ms > up_p99_ms && s.utilisation > up_utilisation; };
    auto cold = [&](metrics_sample const& s) { return s.utilisation < down_utilisation; };
    double const now = history.back().time_s;
    int const up = std::min(max_ranks, static_cast<int>(std::ceil(ranks * up_factor)));
    int const down = std::max(min_ranks, static_cast<int>(std::floor(ranks * down_factor)));
    if (up > ranks && held_for(history, hot) >= up_hold_s)
      return {scale_action::scale_up, up,
              "p99 latency > " + fmt(up_p99_ms) + " ms and utilisation > " + fmt(up_utilisation * 100) + " % for " +
                  fmt(now - since(history, hot)) + " s (rule: " + fmt(up_hold_s) + " s)"};
    if (down < ranks && held_for(history, cold) >= down_hold_s)
      return {scale_action::scale_down, down,
              "utilisation < " + fmt(down_utilisation * 100) + " % for " + fmt(now - since(history, cold)) +
                  " s (rule: " + fmt(down_hold_s) + " s)"};
    return {scale_action::none, ranks, "thresholds not held long enough"};
  }

  friend bool operator==(threshold_rules const&, threshold_rules const&) = default;

 private:
  // Time of the first sample of the trailing run of samples meeting `pred` (now + 1 if the last does not).
  template <class Pred>
  static double since(std::span<const metrics_sample> h, Pred pred) {
    double t = h.back().time_s + 1.0;
    for (auto it = h.rbegin(); it != h.rend() && pred(*it); ++it) t = it->time_s;
    return t;
  }
  template <class Pred>
  static double held_for(std::span<const metrics_sample> h, Pred pred) {
    return h.back().time_s - since(h, pred);
  }
  static std::string fmt(double v) {
    auto s = std::to_string(std::round(v * 10) / 10);
    s.erase(s.find_last_not_of('0') + 1);
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  }
};

static_assert(scaling_policy<threshold_rules>);

/// \brief Keeps the recent samples and asks the policy; once it decides to scale, the history restarts.
///
/// \code
/// strata::elastic::monitor<> mon;                         // threshold_rules with S8 defaults
/// auto d = mon.observe({t, p99_ms, util}, world.size());
/// if (d.action != strata::elastic::scale_action::none) { ckpt.save(); request_relaunch(d, ...); }
/// \endcode
template <class Policy = threshold_rules>
class monitor {
  static_assert(scaling_policy<Policy>,
                "elastic::monitor: the Policy must model scaling_policy: a regular value type with "
                "`scale_decision decide(std::span<const metrics_sample>, int ranks) const` and `double window_s() const`");

 public:
  explicit monitor(Policy policy = {}) : policy_(std::move(policy)) {}

  /// \brief Adds a sample (times must not go backwards) and returns the policy's decision.
  scale_decision observe(metrics_sample s, int ranks) {
    if (!history_.empty() && s.time_s < history_.back().time_s)
      throw usage_error("elastic::monitor: sample at t=" + std::to_string(s.time_s) + " s is older than the previous one (t=" +
                        std::to_string(history_.back().time_s) + " s)");
    history_.push_back(s);
    // Keep one sample older than the window so a condition holding for the whole window is seen as such.
    while (history_.size() > 2 && history_[1].time_s <= s.time_s - policy_.window_s()) history_.pop_front();
    std::vector<metrics_sample> const view(history_.begin(), history_.end());
    auto d = policy_.decide(view, ranks);
    if (d.action != scale_action::none) history_.clear();
    return d;
  }
  [[nodiscard]] Policy const& policy() const noexcept { return policy_; }
  [[nodiscard]] std::size_t samples() const noexcept { return history_.size(); }

 private:
  Policy policy_;
  std::deque<metrics_sample> history_;
};

}  // namespace strata::elastic
