#pragma once
/// \file
/// \brief Work units of an SPMD code and what a balancing policy sees of the ranks (SPEC S5).

#include <strata/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <vector>

namespace strata::balance {

/// \brief A proposed or actual assignment of units to ranks was refused (memory limit, bad rank, ...).
class assignment_error : public error {
 public:
  using error::error;
};

/// \brief One piece of an SPMD code's work: its id, relative cost, owner rank and data size.
///
/// Every rank holds the same list of units (the metadata is replicated); the
/// data of a unit lives only on its owner (see `unit_store`).
struct work_unit {
  std::uint64_t id = 0;     ///< application-chosen, unique
  double weight = 1.0;      ///< relative cost of one step of this unit (e.g. particles, cells)
  int owner = 0;            ///< rank that holds the unit's data and computes it
  std::uint64_t bytes = 0;  ///< size of the unit's data, moved with it and counted against memory limits
  friend bool operator==(work_unit const&, work_unit const&) = default;
};

/// \brief The owner rank of each unit, index-aligned with the unit list.
using assignment = std::vector<int>;

/// \brief No memory limit.
inline constexpr std::uint64_t unlimited = std::numeric_limits<std::uint64_t>::max();

/// \brief What a policy knows about the ranks: measured cost and memory limit of each.
struct rank_view {
  /// Seconds one unit of weight takes on each rank (per-rank EWMA step time / weight); size = rank count.
  std::vector<double> seconds_per_weight;
  /// Bytes of unit data each rank may hold; empty means unlimited everywhere.
  std::vector<std::uint64_t> memory_limit;

  [[nodiscard]] int size() const noexcept { return static_cast<int>(seconds_per_weight.size()); }
  [[nodiscard]] std::uint64_t limit(int rank) const noexcept {
    return memory_limit.empty() ? unlimited : memory_limit[static_cast<std::size_t>(rank)];
  }
  /// \brief `ranks` ranks of equal speed, no memory limit.
  static rank_view uniform(int ranks) { return {std::vector<double>(static_cast<std::size_t>(ranks), 1.0), {}}; }
};

/// \brief The owners of `units` as an assignment.
[[nodiscard]] inline assignment owners_of(std::span<const work_unit> units) {
  assignment a(units.size());
  std::ranges::transform(units, a.begin(), &work_unit::owner);
  return a;
}

/// \brief Predicted step time of each rank under `owners`: seconds_per_weight x sum of weights.
[[nodiscard]] inline std::vector<double> predicted_loads(std::span<const work_unit> units, assignment const& owners,
                                                         rank_view const& ranks) {
  std::vector<double> load(static_cast<std::size_t>(ranks.size()), 0.0);
  for (std::size_t i = 0; i < units.size(); ++i) load[static_cast<std::size_t>(owners[i])] += units[i].weight;
  for (std::size_t r = 0; r < load.size(); ++r) load[r] *= ranks.seconds_per_weight[r];
  return load;
}

/// \brief Bytes of unit data held by each rank under `owners`.
[[nodiscard]] inline std::vector<std::uint64_t> bytes_per_rank(std::span<const work_unit> units,
                                                               assignment const& owners, int ranks) {
  std::vector<std::uint64_t> b(static_cast<std::size_t>(ranks), 0);
  for (std::size_t i = 0; i < units.size(); ++i) b[static_cast<std::size_t>(owners[i])] += units[i].bytes;
  return b;
}

/// \brief `max / avg - 1` of per-rank loads (0 when perfectly balanced or when there is no load).
[[nodiscard]] inline double imbalance(std::span<const double> loads) {
  if (loads.empty()) return 0.0;
  double const mx = *std::ranges::max_element(loads);
  double const avg = std::accumulate(loads.begin(), loads.end(), 0.0) / static_cast<double>(loads.size());
  return avg > 0.0 ? mx / avg - 1.0 : 0.0;
}

/// \brief Refuses `owners` (throws `assignment_error` naming the rank) if a rank is out of range
/// or would hold more unit data than its memory limit.
inline void check_assignment(std::span<const work_unit> units, assignment const& owners, rank_view const& ranks) {
  if (owners.size() != units.size())
    throw assignment_error("balance: assignment has " + std::to_string(owners.size()) + " owners for " +
                           std::to_string(units.size()) + " units");
  for (std::size_t i = 0; i < units.size(); ++i)
    if (owners[i] < 0 || owners[i] >= ranks.size())
      throw assignment_error("balance: unit " + std::to_string(units[i].id) + " assigned to rank " +
                             std::to_string(owners[i]) + ", but there are " + std::to_string(ranks.size()) + " ranks");
  auto const held = bytes_per_rank(units, owners, ranks.size());
  for (int r = 0; r < ranks.size(); ++r)
    if (held[static_cast<std::size_t>(r)] > ranks.limit(r))
      throw assignment_error("balance: assignment refused: rank " + std::to_string(r) + " would hold " +
                             std::to_string(held[static_cast<std::size_t>(r)]) + " bytes of unit data, over its memory limit of " +
                             std::to_string(ranks.limit(r)) + " bytes");
}

/// \brief Total weight of the units `rank` owns.
[[nodiscard]] inline double local_weight(std::span<const work_unit> units, int rank) {
  double w = 0.0;
  for (auto const& u : units)
    if (u.owner == rank) w += u.weight;
  return w;
}

}  // namespace strata::balance
