// dag::execute and elastic::topology::discover under the real mpiexec.
#include <catch2/catch.hpp>

#include <strata/comm/mpi.hpp>
#include <strata/dag/executor.hpp>
#include <strata/dag/placement.hpp>
#include <strata/elastic/topology.hpp>

#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <tuple>
#include <vector>

using namespace strata::dag;

namespace {
std::uint64_t mix(std::uint64_t h, std::uint64_t v) { return (h ^ v) * 1099511628211ull + 0x9e3779b97f4a7c15ull; }

// 60 tasks; task j depends on a pseudo-random few of the earlier ones; some tasks have no inputs.
graph random_graph() {
  graph g;
  std::uint64_t s = 12345;
  auto next = [&] { return s = s * 6364136223846793005ull + 1442695040888963407ull, s >> 33; };
  for (int j = 0; j < 60; ++j) {
    auto t = g.add_task("t" + std::to_string(j), {{"cpu", 0.001 * static_cast<double>(1 + next() % 5)}});
    int const deps = j == 0 ? 0 : static_cast<int>(next() % 4);
    std::set<task_id> from;
    for (int d = 0; d < deps; ++d) from.insert(static_cast<task_id>(next() % static_cast<std::uint64_t>(j)));
    for (auto f : from) g.add_edge(f, t, 64 + next() % 4096);
  }
  return g;
}
std::vector<std::byte> as_bytes(std::uint64_t v) {
  std::vector<std::byte> b(sizeof v);
  std::memcpy(b.data(), &v, sizeof v);
  return b;
}
std::uint64_t from_bytes(std::span<const std::byte> b) {
  std::uint64_t v = 0;
  REQUIRE(b.size() == sizeof v);
  std::memcpy(&v, b.data(), sizeof v);
  return v;
}
// A task's value: its id mixed with its predecessors' values in edge order.
template <class Get>
std::uint64_t value_of(graph const& g, task_id t, Get get) {
  std::uint64_t h = mix(0, t);
  for (auto ei : g.in_edges(t)) h = mix(h, get(g.edges()[ei].from));
  return h;
}
}  // namespace

using policies = std::tuple<heft, round_robin, eager>;

TEMPLATE_LIST_TEST_CASE("execute runs every task once, on its planned rank, after its inputs", "[dag][mpi]", policies) {
  strata::comm::mpi world{MPI_COMM_WORLD};
  auto const g = random_graph();
  auto const pf = platform::uniform(world.size());
  auto const plan = TestType{}.place(g, pf);

  std::vector<std::uint64_t> expect(g.size());
  for (auto t : g.topological_order()) expect[t] = value_of(g, t, [&](task_id p) { return expect[p]; });

  std::size_t wrong_inputs = 0, wrong_rank = 0;
  auto res = execute(world, g, plan, [&](task_id t, task_inputs const& in) {
    std::set<task_id> preds;
    for (auto ei : g.in_edges(t)) preds.insert(g.edges()[ei].from);
    if (in.size() != preds.size()) ++wrong_inputs;
    if (plan.tasks[t].rank != world.rank()) ++wrong_rank;
    return as_bytes(value_of(g, t, [&](task_id p) { return from_bytes(in.from(p)); }));
  });
  CHECK(wrong_inputs == 0);
  CHECK(wrong_rank == 0);
  std::uint64_t bad = 0;
  for (auto const& [t, out] : res.outputs) bad += from_bytes(out) != expect[t];
  CHECK(world.all_reduce(bad, strata::comm::reduce_op::sum) == 0);
  CHECK(world.all_reduce(std::uint64_t{res.tasks_run}, strata::comm::reduce_op::sum) == g.size());
  CHECK(res.makespan_s > 0.0);
  if (world.size() == 1) CHECK(res.bytes_sent == 0);
}

TEST_CASE("execute refuses a plan that does not fit the communicator", "[dag][mpi]") {
  strata::comm::mpi world{MPI_COMM_WORLD};
  auto const g = random_graph();
  auto const plan = heft{}.place(g, platform::uniform(world.size() + 1));
  bool uses_extra = false;
  for (auto const& t : plan.tasks) uses_extra |= t.rank == world.size();
  REQUIRE(uses_extra);
  auto body = [](task_id, task_inputs const&) { return std::vector<std::byte>{}; };
  REQUIRE_THROWS_WITH(execute(world, g, plan, body), Catch::Contains("is placed on rank " + std::to_string(world.size())));
}

TEST_CASE("topology::discover groups the ranks by node and gathers their kinds", "[elastic][mpi]") {
  strata::comm::mpi world{MPI_COMM_WORLD};
  int const me = world.rank();
  auto const topo = strata::elastic::topology::discover(world, me % 2 ? "gpu" : "cpu");
  REQUIRE(topo.size() == world.size());
  for (int r = 0; r < world.size(); ++r) CHECK(topo.kind_of(r) == (r % 2 ? "gpu" : "cpu"));
  auto const mates = topo.ranks_on_node(topo.node_of(me));
  CHECK(std::ranges::find(mates, me) != mates.end());
  CHECK(static_cast<int>(mates.size()) == world.split_shared().size());
  // Every rank sees the same topology.
  std::uint64_t h = 0;
  for (int r = 0; r < topo.size(); ++r) h = mix(h, static_cast<std::uint64_t>(topo.node_of(r)));
  CHECK(world.all_reduce(h, strata::comm::reduce_op::min) == world.all_reduce(h, strata::comm::reduce_op::max));
  // Placement over it: a platform with one rank per MPI rank.
  auto const pf = platform::from_topology(topo);
  CHECK(pf.size() == world.size());
  CHECK(pf.ranks[static_cast<std::size_t>(me)].node == topo.node_of(me));
}
