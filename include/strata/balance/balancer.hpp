#pragma once
/// \file
/// \brief `balance::balancer`: per-rank EWMA step time, a policy's new assignment, and the
/// migration of the units' Thrust data between ranks over MPI (SPEC S5, SPMD part).

#include <strata/balance/policies.hpp>
#include <strata/balance/unit_store.hpp>
#include <strata/balance/work_unit.hpp>
#include <strata/comm/concepts.hpp>
#include <strata/comm/mpi.hpp>
#include <strata/error.hpp>
#include <strata/schedule/ewma.hpp>

#include <thrust/copy.h>
#include <thrust/device_vector.h>

#include <mpi.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace strata::balance {

/// \brief Settings of a `balancer`.
struct balancer_options {
  double alpha = 0.8;                        ///< EWMA weight of the newest step time (SPEC S5: 0.7 to 0.9)
  std::uint64_t memory_limit = unlimited;    ///< bytes of unit data any one rank may hold
  std::vector<std::uint64_t> memory_limits;  ///< per-rank limits; when non-empty, overrides `memory_limit`
};

/// \brief What one load-balancing step did; identical on every rank.
struct lb_report {
  std::size_t lb_step = 0;                 ///< 1 for the first call of rebalance/migrate, then 2, ...
  std::string_view policy;                 ///< name of the policy that planned it
  std::vector<double> rank_load;           ///< per-rank EWMA step time before the step (seconds)
  double max_load = 0.0;                   ///< max of `rank_load`
  double avg_load = 0.0;                   ///< mean of `rank_load`
  double imbalance_before = 0.0;           ///< max/avg - 1 before the step
  double predicted_imbalance_after = 0.0;  ///< max/avg - 1 the new assignment should give
  std::size_t units_moved = 0;             ///< units whose owner changed
  std::uint64_t bytes_moved = 0;           ///< unit data sent between ranks
  double seconds = 0.0;                    ///< wall time of the step, slowest rank
};

/// \brief Measures per-rank step time and moves work units (and their data) from slow to fast ranks.
///
/// All members except `record_step` are collective over the communicator and
/// must be called with the same unit list on every rank.
///
/// \code
/// strata::balance::balancer<strata::balance::refine> lb{MPI_COMM_WORLD, {.tolerance = 0.05}};
/// for (int step = 0; step < n; ++step) {
///   double t = compute(units, store);          // this rank's work on its units
///   lb.record_step(units, t);
///   if (step % 10 == 9) auto report = lb.rebalance(units, store);
/// }
/// \endcode
template <class Policy = refine, class Comm = comm::mpi>
class balancer {
  static_assert(balance_policy<Policy>,
                "balance::balancer: the Policy must model balance_policy: a regular value type with "
                "`assignment plan(std::span<const work_unit>, rank_view const&) const` and `name()` "
                "(see strata/balance/policies.hpp)");
  static_assert(comm::point_to_point_communicator<Comm>,
                "balance::balancer: the Comm must model comm::point_to_point_communicator (e.g. comm::mpi)");

 public:
  explicit balancer(Comm comm, Policy policy = {}, balancer_options options = {})
      : comm_(std::move(comm)), policy_(policy), options_(std::move(options)), cost_(options_.alpha) {
    if (!options_.memory_limits.empty() && options_.memory_limits.size() != static_cast<std::size_t>(comm_.size()))
      throw usage_error("balance::balancer: memory_limits has " + std::to_string(options_.memory_limits.size()) +
                        " entries for " + std::to_string(comm_.size()) + " ranks");
  }

  /// \brief Records this rank's time for its last step (local, not collective).
  void record_step(std::span<const work_unit> units, double seconds) {
    double const w = local_weight(units, comm_.rank());
    if (w > 0.0 && seconds >= 0.0) cost_.add(seconds / w);
  }

  /// \brief What the policy will see: every rank's EWMA seconds per unit of weight and memory limit (collective).
  [[nodiscard]] rank_view view() const {
    double const mine = cost_.has_value() ? cost_.value() : std::numeric_limits<double>::quiet_NaN();
    auto const bits = comm_.all_gather(std::bit_cast<std::uint64_t>(mine));
    rank_view v;
    v.seconds_per_weight.resize(bits.size());
    double known_sum = 0.0;
    int known = 0;
    for (std::size_t r = 0; r < bits.size(); ++r) {
      v.seconds_per_weight[r] = std::bit_cast<double>(bits[r]);
      if (!std::isnan(v.seconds_per_weight[r])) known_sum += v.seconds_per_weight[r], ++known;
    }
    double const fill = known > 0 ? known_sum / known : 1.0;  // never measured: assume an average rank
    for (auto& s : v.seconds_per_weight)
      if (std::isnan(s)) s = fill;
    if (!options_.memory_limits.empty()) v.memory_limit = options_.memory_limits;
    else if (options_.memory_limit != unlimited) v.memory_limit.assign(bits.size(), options_.memory_limit);
    return v;
  }

  /// \brief One LB step: asks the policy for a new assignment and migrates the units' data (collective).
  template <class T>
  lb_report rebalance(std::vector<work_unit>& units, unit_store<T>& store) {
    auto const t0 = clock::now();
    check_same_units(units);
    auto const ranks = view();
    auto const target = policy_.plan(units, ranks);
    return finish(units, store, ranks, target, t0);
  }

  /// \brief Moves units to `target` owners (collective). An assignment over a rank's memory limit is
  /// refused with `assignment_error` on every rank before anything moves.
  template <class T>
  lb_report migrate(std::vector<work_unit>& units, unit_store<T>& store, assignment const& target) {
    auto const t0 = clock::now();
    check_same_units(units);
    return finish(units, store, view(), target, t0);
  }

  [[nodiscard]] Policy const& policy() const noexcept { return policy_; }
  [[nodiscard]] Comm const& communicator() const noexcept { return comm_; }
  /// \brief This rank's EWMA seconds per unit of weight (0 before any step was recorded).
  [[nodiscard]] double seconds_per_weight() const noexcept { return cost_.value(); }

 private:
  using clock = std::chrono::steady_clock;
  static constexpr int migrate_tag = 0x5b1;

  template <class T>
  lb_report finish(std::vector<work_unit>& units, unit_store<T>& store, rank_view const& ranks,
                   assignment const& target, clock::time_point t0) {
    check_assignment(units, target, ranks);  // same result on every rank: refusal is collective
    check_local_data(units, store);

    lb_report rep;
    rep.lb_step = ++lb_steps_;
    rep.policy = policy_.name();
    rep.rank_load = predicted_loads(units, owners_of(units), ranks);
    rep.max_load = *std::ranges::max_element(rep.rank_load);
    rep.avg_load = std::accumulate(rep.rank_load.begin(), rep.rank_load.end(), 0.0) / rep.rank_load.size();
    rep.imbalance_before = imbalance(rep.rank_load);
    rep.predicted_imbalance_after = imbalance(predicted_loads(units, target, ranks));
    for (std::size_t i = 0; i < units.size(); ++i)
      if (units[i].owner != target[i]) ++rep.units_moved, rep.bytes_moved += units[i].bytes;

    exchange(units, store, target);
    for (std::size_t i = 0; i < units.size(); ++i) units[i].owner = target[i];
    double const mine = std::chrono::duration<double>(clock::now() - t0).count();
    rep.seconds = comm_.all_reduce(mine, comm::reduce_op::max);
    return rep;
  }

  /// Every rank must pass the same unit list: compare a hash of it.
  void check_same_units(std::span<const work_unit> units) const {
    std::uint64_t h = 1469598103934665603ull;
    auto mix = [&](std::uint64_t v) { h = (h ^ v) * 1099511628211ull; };
    for (auto const& u : units) {
      mix(u.id);
      mix(static_cast<std::uint64_t>(u.owner));
      mix(u.bytes);
      mix(std::bit_cast<std::uint64_t>(u.weight));
    }
    if (comm_.all_reduce(h, comm::reduce_op::min) != comm_.all_reduce(h, comm::reduce_op::max))
      throw usage_error("balance::balancer: ranks passed different unit lists (ids, owners, weights or bytes differ); "
                        "the unit metadata must be replicated on every rank");
  }

  /// Each rank must hold the data of its units, of the declared size; agreed collectively.
  template <class T>
  void check_local_data(std::span<const work_unit> units, unit_store<T> const& store) const {
    std::string problem;
    for (auto const& u : units) {
      if (u.owner != comm_.rank()) continue;
      if (!store.contains(u.id)) problem = "holds no data for its unit " + std::to_string(u.id);
      else if (store.bytes(u.id) != u.bytes)
        problem = "holds " + std::to_string(store.bytes(u.id)) + " bytes for unit " + std::to_string(u.id) +
                  " but the unit declares " + std::to_string(u.bytes);
      if (!problem.empty()) break;
    }
    auto const bad = comm_.all_reduce(std::uint64_t{problem.empty() ? 0u : 1u}, comm::reduce_op::max);
    if (bad == 0) return;
    throw usage_error("balance::balancer: nothing migrated: " +
                      (problem.empty() ? std::string("another rank's unit data does not match the unit list")
                                       : "rank " + std::to_string(comm_.rank()) + " " + problem));
  }

  template <class T>
  void exchange(std::span<const work_unit> units, unit_store<T>& store, assignment const& target) {
    int const me = comm_.rank(), P = comm_.size();
    std::vector<std::vector<std::size_t>> out(static_cast<std::size_t>(P)), in(static_cast<std::size_t>(P));
    for (std::size_t i = 0; i < units.size(); ++i) {
      if (units[i].owner == target[i]) continue;
      if (units[i].owner == me) out[static_cast<std::size_t>(target[i])].push_back(i);
      if (target[i] == me) in[static_cast<std::size_t>(units[i].owner)].push_back(i);
    }
    auto total = [&](std::vector<std::size_t> const& idx) {
      std::uint64_t b = 0;
      for (auto i : idx) b += units[i].bytes;
      return b;
    };
    // Pack: the payloads of the units for one peer, in unit order (the receiver knows the sizes).
    std::vector<std::vector<std::byte>> send_buf(static_cast<std::size_t>(P)), recv_buf(static_cast<std::size_t>(P));
    for (int d = 0; d < P; ++d) {
      auto const& idx = out[static_cast<std::size_t>(d)];
      if (idx.empty()) continue;
      auto& buf = send_buf[static_cast<std::size_t>(d)];
      buf.resize(total(idx));
      std::size_t off = 0;
      for (auto i : idx) {
        auto const& v = store.at(units[i].id);
        thrust::copy(v.begin(), v.end(), reinterpret_cast<T*>(buf.data() + off));
        off += units[i].bytes;
      }
    }
    for (int s = 0; s < P; ++s)
      if (!in[static_cast<std::size_t>(s)].empty()) recv_buf[static_cast<std::size_t>(s)].resize(total(in[static_cast<std::size_t>(s)]));

    if constexpr (requires(Comm const& c) { { c.native() } -> std::convertible_to<MPI_Comm>; }) {
      // Real MPI: every transfer posted at once.
      std::vector<MPI_Request> reqs;
      for (int s = 0; s < P; ++s)
        if (auto& b = recv_buf[static_cast<std::size_t>(s)]; !b.empty())
          comm::detail::check_mpi(MPI_Irecv(b.data(), mpi_count(b.size()), MPI_BYTE, s, migrate_tag, comm_.native(),
                                            &reqs.emplace_back()), "MPI_Irecv (balance migration)");
      for (int d = 0; d < P; ++d)
        if (auto& b = send_buf[static_cast<std::size_t>(d)]; !b.empty())
          comm::detail::check_mpi(MPI_Isend(b.data(), mpi_count(b.size()), MPI_BYTE, d, migrate_tag, comm_.native(),
                                            &reqs.emplace_back()), "MPI_Isend (balance migration)");
      comm::detail::check_mpi(MPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE),
                              "MPI_Waitall (balance migration)");
    } else {
      // Any point-to-point communicator: blocking transfers in one global order of (source, destination)
      // pairs, which every rank walks identically, so no two ranks wait on each other.
      std::vector<std::byte> tmp;
      for (int s = 0; s < P; ++s)
        for (int d = 0; d < P; ++d) {
          if (s == me && !send_buf[static_cast<std::size_t>(d)].empty()) comm_.send(send_buf[static_cast<std::size_t>(d)], d, migrate_tag);
          if (d == me && !recv_buf[static_cast<std::size_t>(s)].empty()) {
            comm_.recv(tmp, s, migrate_tag);
            recv_buf[static_cast<std::size_t>(s)] = std::move(tmp);
          }
        }
    }

    for (int d = 0; d < P; ++d)
      for (auto i : out[static_cast<std::size_t>(d)]) (void)store.extract(units[i].id);
    for (int s = 0; s < P; ++s) {
      std::size_t off = 0;
      auto const& buf = recv_buf[static_cast<std::size_t>(s)];
      for (auto i : in[static_cast<std::size_t>(s)]) {
        auto const* first = reinterpret_cast<T const*>(buf.data() + off);
        store.insert(units[i].id, typename unit_store<T>::vector_type(first, first + units[i].bytes / sizeof(T)));
        off += units[i].bytes;
      }
    }
  }

  static int mpi_count(std::size_t n) {
    if (n > static_cast<std::size_t>(std::numeric_limits<int>::max()))
      throw comm_error("balance::balancer: " + std::to_string(n) + " bytes for one peer exceed MPI's int count");
    return static_cast<int>(n);
  }

  Comm comm_;
  Policy policy_;
  balancer_options options_;
  schedule::ewma cost_;
  std::size_t lb_steps_ = 0;
};

}  // namespace strata::balance
