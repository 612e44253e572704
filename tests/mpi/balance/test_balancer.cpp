// balance::balancer under the real mpiexec: EWMA view, policy plan, and data migration between ranks.
#include <catch2/catch.hpp>

#include <strata/balance/balancer.hpp>
#include <strata/comm/mpi.hpp>

#include <thrust/device_vector.h>
#include <thrust/host_vector.h>
#include <thrust/sequence.h>

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

using namespace strata::balance;

namespace {
constexpr int units_per_rank = 6;

// Unit i has 10 + 3*i doubles, element k = i * 1000 + k; weight 1 + i % 3; block distribution.
std::vector<work_unit> make_units(int P) {
  std::vector<work_unit> units;
  int const n = units_per_rank * P;
  for (int i = 0; i < n; ++i)
    units.push_back({static_cast<std::uint64_t>(i), 1.0 + i % 3, i / units_per_rank,
                     static_cast<std::uint64_t>(10 + 3 * i) * sizeof(double)});
  return units;
}
unit_store<double> make_store(std::vector<work_unit> const& units, int me) {
  unit_store<double> store;
  for (auto const& u : units)
    if (u.owner == me) {
      thrust::device_vector<double> v(u.bytes / sizeof(double));
      thrust::sequence(v.begin(), v.end(), static_cast<double>(u.id) * 1000.0);
      store.insert(u.id, std::move(v));
    }
  return store;
}
// Every rank holds exactly the data of the units it owns, with the right content.
void check_store(std::vector<work_unit> const& units, unit_store<double> const& store, int me) {
  std::size_t mine = 0;
  for (auto const& u : units) {
    if (u.owner != me) {
      CHECK_FALSE(store.contains(u.id));
      continue;
    }
    ++mine;
    REQUIRE(store.contains(u.id));
    thrust::host_vector<double> h = store.at(u.id);
    REQUIRE(h.size() * sizeof(double) == u.bytes);
    for (std::size_t k = 0; k < h.size(); ++k)
      if (h[k] != static_cast<double>(u.id) * 1000.0 + static_cast<double>(k)) FAIL("unit " << u.id << " element " << k);
  }
  CHECK(store.size() == mine);
}
// Ranks 1 and 2 (where they exist) are three times slower.
double slowdown(int r, int P) { return P > 1 && (r == 1 || r == 2) ? 3.0 : 1.0; }
}  // namespace

using policies = std::tuple<greedy, refine>;

TEMPLATE_LIST_TEST_CASE("rebalance moves units with their data from slowed ranks", "[balance][mpi]", policies) {
  strata::comm::mpi world{MPI_COMM_WORLD};
  int const me = world.rank(), P = world.size();
  auto units = make_units(P);
  auto store = make_store(units, me);
  balancer<TestType> lb{world};

  double last_imbalance = 0;
  for (int lb_step = 0; lb_step < 3; ++lb_step) {
    // A step's time is the weight of the local units times this rank's slowdown.
    for (int s = 0; s < 3; ++s) lb.record_step(units, local_weight(units, me) * 0.01 * slowdown(me, P));
    auto const rep = lb.rebalance(units, store);
    CHECK(rep.lb_step == static_cast<std::size_t>(lb_step + 1));
    CHECK(rep.policy == TestType::name());
    REQUIRE(rep.rank_load.size() == static_cast<std::size_t>(P));
    CHECK(rep.max_load >= rep.avg_load);
    if (lb_step == 0 && P > 1) {
      CHECK(rep.imbalance_before > 0.3);
      CHECK(rep.units_moved > 0);
      CHECK(rep.predicted_imbalance_after <= 0.05 + 1e-9);
    }
    if (P == 1) CHECK(rep.units_moved == 0);
    // Report identical on every rank.
    CHECK(world.all_reduce(std::uint64_t{rep.bytes_moved}, strata::comm::reduce_op::min) == rep.bytes_moved);
    CHECK(world.all_reduce(std::uint64_t{rep.units_moved}, strata::comm::reduce_op::max) == rep.units_moved);
    check_store(units, store, me);
    last_imbalance = rep.predicted_imbalance_after;
  }
  CHECK(last_imbalance <= 0.05 + 1e-9);
  // After balancing, the measured loads agree with the prediction.
  lb.record_step(units, local_weight(units, me) * 0.01 * slowdown(me, P));
  auto const v = lb.view();
  CHECK(imbalance(predicted_loads(units, owners_of(units), v)) <= 0.05 + 1e-9);
}

TEST_CASE("bytes moved counts the data of the units that changed owner", "[balance][mpi]") {
  strata::comm::mpi world{MPI_COMM_WORLD};
  int const me = world.rank(), P = world.size();
  auto units = make_units(P);
  auto store = make_store(units, me);
  balancer<refine> lb{world};
  // Rotate every unit to the next rank.
  assignment target(units.size());
  std::uint64_t expect_bytes = 0;
  for (std::size_t i = 0; i < units.size(); ++i) {
    target[i] = (units[i].owner + 1) % P;
    if (P > 1) expect_bytes += units[i].bytes;
  }
  auto const rep = lb.migrate(units, store, target);
  CHECK(rep.bytes_moved == expect_bytes);
  CHECK(rep.units_moved == (P > 1 ? units.size() : 0u));
  CHECK(owners_of(units) == target);
  check_store(units, store, me);
}

TEST_CASE("an assignment over a rank's memory limit is refused on every rank and nothing moves",
          "[balance][mpi]") {
  strata::comm::mpi world{MPI_COMM_WORLD};
  int const me = world.rank(), P = world.size();
  auto units = make_units(P);
  auto store = make_store(units, me);
  auto const before = units;
  std::uint64_t total = 0;
  for (auto const& u : units) total += u.bytes;
  balancer_options opts;
  opts.memory_limit = total / 2 + (P == 1 ? total : 0);
  balancer<greedy> lb{world, {}, opts};

  assignment all_on_zero(units.size(), 0);
  if (P > 1) {
    REQUIRE_THROWS_AS(lb.migrate(units, store, all_on_zero), assignment_error);
    REQUIRE_THROWS_WITH(lb.migrate(units, store, all_on_zero),
                        Catch::Contains("rank 0 would hold") && Catch::Contains("memory limit"));
  } else {
    CHECK_NOTHROW(lb.migrate(units, store, all_on_zero));
  }
  CHECK(units == before);
  check_store(units, store, me);
}

TEST_CASE("the policy's own plan respects the balancer's memory limits", "[balance][mpi]") {
  strata::comm::mpi world{MPI_COMM_WORLD};
  int const me = world.rank(), P = world.size();
  if (P < 2) return;
  auto units = make_units(P);
  auto store = make_store(units, me);
  // Fast ranks may hold only what they have now plus a little.
  std::vector<std::uint64_t> limits(static_cast<std::size_t>(P));
  auto const held = bytes_per_rank(units, owners_of(units), P);
  for (int r = 0; r < P; ++r) limits[static_cast<std::size_t>(r)] = held[static_cast<std::size_t>(r)] + 2 * (slowdown(r, P) > 1 ? 100000 : 200);
  balancer<greedy> lb{world, {}, {.memory_limits = limits}};
  for (int s = 0; s < 2; ++s) lb.record_step(units, local_weight(units, me) * 0.01 * slowdown(me, P));
  auto const rep = lb.rebalance(units, store);
  auto const now = bytes_per_rank(units, owners_of(units), P);
  for (int r = 0; r < P; ++r) CHECK(now[static_cast<std::size_t>(r)] <= limits[static_cast<std::size_t>(r)]);
  check_store(units, store, me);
  (void)rep;
}

TEST_CASE("ranks passing different unit lists, or missing unit data, are told so", "[balance][mpi]") {
  strata::comm::mpi world{MPI_COMM_WORLD};
  int const me = world.rank(), P = world.size();
  auto units = make_units(P);
  auto store = make_store(units, me);
  balancer<refine> lb{world};
  if (P > 1) {
    auto mine = units;
    if (me == P - 1) mine[0].weight += 1.0;
    REQUIRE_THROWS_WITH(lb.rebalance(mine, store), Catch::Contains("different unit lists"));
  }
  auto broken = store;
  if (me == 0) (void)broken.extract(0);
  REQUIRE_THROWS_WITH(lb.rebalance(units, broken), Catch::Contains("nothing migrated"));
}

TEST_CASE("the generic path (blocking point-to-point) migrates too", "[balance][mpi]") {
  // A communicator without native(): balancer falls back to ordered blocking transfers.
  struct plain {
    strata::comm::mpi c;
    int rank() const { return c.rank(); }
    int size() const { return c.size(); }
    void barrier() const { c.barrier(); }
    std::uint64_t all_reduce(std::uint64_t v, strata::comm::reduce_op op) const { return c.all_reduce(v, op); }
    double all_reduce(double v, strata::comm::reduce_op op) const { return c.all_reduce(v, op); }
    std::vector<std::uint64_t> all_gather(std::uint64_t v) const { return c.all_gather(v); }
    void broadcast(std::span<std::byte> b, int root) const { c.broadcast(b, root); }
    void send(std::span<const std::byte> d, int dest, int tag) const { c.send(d, dest, tag); }
    strata::comm::message_info recv(std::vector<std::byte>& o, int s, int t) const { return c.recv(o, s, t); }
    std::optional<strata::comm::message_info> probe(int s, int t) const { return c.probe(s, t); }
  };
  STATIC_REQUIRE(strata::comm::point_to_point_communicator<plain>);
  plain world{strata::comm::mpi{MPI_COMM_WORLD}};
  int const me = world.rank(), P = world.size();
  auto units = make_units(P);
  auto store = make_store(units, me);
  balancer<greedy, plain> lb{world};
  assignment target(units.size());
  for (std::size_t i = 0; i < units.size(); ++i) target[i] = static_cast<int>((i * 7) % static_cast<std::size_t>(P));
  lb.migrate(units, store, target);
  CHECK(owners_of(units) == target);
  check_store(units, store, me);
}
