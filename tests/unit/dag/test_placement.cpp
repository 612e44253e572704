#include <catch2/catch.hpp>

#include <strata/dag/graph.hpp>
#include <strata/dag/placement.hpp>
#include <strata/dag/platform.hpp>

#include <string>
#include <set>
#include <tuple>
#include <vector>

using namespace strata::dag;

namespace {
// A fork-join: 1 source, `width` independent tasks of cost 1, 1 sink.
graph fork_join(int width, std::uint64_t bytes = 0, std::uint64_t memory = 0) {
  graph g;
  auto s = g.add_task("src", {{"cpu", 1.0}});
  auto t = g.add_task("sink", {{"cpu", 1.0}});
  for (int i = 0; i < width; ++i) {
    auto m = g.add_task("mid" + std::to_string(i), {{"cpu", 1.0}}, memory);
    g.add_edge(s, m, bytes);
    g.add_edge(m, t, bytes);
  }
  return g;
}
// Checks a schedule is feasible: dependencies (with transfer times), no overlap on a rank.
void check_feasible(graph const& g, platform const& pf, schedule const& s) {
  REQUIRE(s.tasks.size() == g.size());
  for (auto const& e : g.edges()) {
    auto const& a = s.tasks[e.from];
    auto const& b = s.tasks[e.to];
    CHECK(b.start + 1e-12 >= a.finish + pf.transfer_time(a.rank, b.rank, e.bytes));
  }
  for (task_id x = 0; x < g.size(); ++x)
    for (task_id y = x + 1; y < g.size(); ++y)
      if (s.tasks[x].rank == s.tasks[y].rank)
        CHECK((s.tasks[x].finish <= s.tasks[y].start + 1e-12 || s.tasks[y].finish <= s.tasks[x].start + 1e-12));
}
}  // namespace

using policies = std::tuple<heft, round_robin, eager>;

TEST_CASE("topological order, and a cycle is an error naming its tasks", "[dag]") {
  graph g;
  auto a = g.add_task("a", {{"cpu", 1}});
  auto b = g.add_task("b", {{"cpu", 1}});
  auto c = g.add_task("c", {{"cpu", 1}});
  auto d = g.add_task("d", {{"cpu", 1}});
  g.add_edge(c, b);
  g.add_edge(b, a);
  g.add_edge(a, d);
  CHECK(g.topological_order() == std::vector<task_id>{c, b, a, d});
  g.add_edge(d, b);  // b -> a -> d -> b
  REQUIRE_THROWS_AS(g.topological_order(), graph_error);
  REQUIRE_THROWS_WITH(g.topological_order(), Catch::Contains("cycle") && Catch::Contains("'b'") &&
                                                 Catch::Contains("'a'") && Catch::Contains("'d'"));
  REQUIRE_THROWS_WITH(heft{}.place(g, platform::uniform(2)), Catch::Contains("cycle"));
}

TEST_CASE("bad tasks and edges are errors naming the task", "[dag]") {
  graph g;
  auto a = g.add_task("a", {{"cpu", 1}});
  REQUIRE_THROWS_WITH(g.add_edge(a, a), Catch::Contains("'a' cannot depend on itself"));
  REQUIRE_THROWS_WITH(g.add_edge(a, 5), Catch::Contains("task id 5 does not exist"));
  REQUIRE_THROWS_WITH(g.add_task("neg", {{"cpu", -1}}), Catch::Contains("'neg'") && Catch::Contains("invalid cost"));
}

TEMPLATE_LIST_TEST_CASE("a missing cost for a rank kind is an error naming task and kind", "[dag]", policies) {
  STATIC_REQUIRE(placement_policy<TestType>);
  graph g;
  auto a = g.add_task("potrf", {{"cpu", 1.0}, {"gpu", 0.1}});
  auto b = g.add_task("gemm", {{"cpu", 2.0}});
  g.add_edge(a, b, 8);
  platform pf = platform::uniform(2);
  CHECK_NOTHROW(TestType{}.place(g, pf));
  pf.ranks[1].kind = "gpu";
  REQUIRE_THROWS_AS(TestType{}.place(g, pf), graph_error);
  REQUIRE_THROWS_WITH(TestType{}.place(g, pf), Catch::Contains("'gemm' has no cost for rank kind 'gpu'"));
  REQUIRE_THROWS_WITH(lower_bound(g, pf), Catch::Contains("'gemm'"));
}

TEMPLATE_LIST_TEST_CASE("schedules are feasible and never beat the lower bound", "[dag]", policies) {
  auto const g = fork_join(7, 1000);
  for (int P : {1, 2, 3, 4}) {
    auto const pf = platform::uniform(P);
    auto const s = TestType{}.place(g, pf);
    check_feasible(g, pf, s);
    CHECK(s.makespan + 1e-12 >= lower_bound(g, pf).value());
  }
}

TEST_CASE("lower bound is max of critical path and work / P", "[dag]") {
  auto const g = fork_join(6);
  auto const b1 = lower_bound(g, platform::uniform(1));
  CHECK(b1.critical_path == Approx(3.0));
  CHECK(b1.work_per_rank == Approx(8.0));
  CHECK(b1.value() == Approx(8.0));
  auto const b4 = lower_bound(g, platform::uniform(4));
  CHECK(b4.work_per_rank == Approx(2.0));
  CHECK(b4.value() == Approx(3.0));
}

TEST_CASE("HEFT reaches the bound on a fork-join with free transfers and uses every rank", "[dag]") {
  auto const g = fork_join(6);
  platform pf = platform::uniform(3);
  pf.latency_s = 0;
  auto const s = heft{}.place(g, pf);
  CHECK(s.makespan == Approx(4.0));  // 1 + 2 rounds of 3 + 1
  std::set<int> used;
  for (auto const& t : s.tasks) used.insert(t.rank);
  CHECK(used.size() == 3);
}

TEST_CASE("HEFT keeps a chain with heavy edges on one rank", "[dag]") {
  graph g;
  task_id prev = g.add_task("t0", {{"cpu", 1.0}});
  for (int i = 1; i < 6; ++i) {
    auto t = g.add_task("t" + std::to_string(i), {{"cpu", 1.0}});
    g.add_edge(prev, t, 100'000'000'000ull);  // 2.5 s at 40 GB/s inside a node
    prev = t;
  }
  auto const pf = platform::uniform(4);
  auto const s = heft{}.place(g, pf);
  for (auto const& t : s.tasks) CHECK(t.rank == s.tasks[0].rank);
  CHECK(s.makespan == Approx(6.0));
  CHECK(round_robin{}.place(g, pf).makespan > 15.0);
}

TEST_CASE("HEFT prefers the fast kind and prices transfers between nodes", "[dag]") {
  graph g;
  auto a = g.add_task("a", {{"cpu", 10.0}, {"gpu", 1.0}});
  auto b = g.add_task("b", {{"cpu", 10.0}, {"gpu", 1.0}});
  g.add_edge(a, b, 10);
  platform pf = platform::uniform(3);
  pf.ranks[2].kind = "gpu";
  auto const s = heft{}.place(g, pf);
  CHECK(s.tasks[a].rank == 2);
  CHECK(s.tasks[b].rank == 2);
  CHECK(s.makespan == Approx(2.0));

  platform two_nodes = platform::uniform(2);
  two_nodes.ranks[1].node = 1;
  CHECK(two_nodes.transfer_time(0, 1, 10'000'000'000ull) > platform::uniform(2).transfer_time(0, 1, 10'000'000'000ull));
  CHECK(two_nodes.transfer_time(1, 1, 123) == 0.0);
}

TEMPLATE_LIST_TEST_CASE("placement respects rank memory limits, and refuses when nothing fits", "[dag]", policies) {
  auto const g = fork_join(6, 0, 100);
  platform pf = platform::uniform(3, 200);  // each rank holds at most two mid tasks
  auto const s = TestType{}.place(g, pf);
  std::vector<int> per_rank(3, 0);
  for (task_id t = 0; t < g.size(); ++t) per_rank[static_cast<std::size_t>(s.tasks[t].rank)] += g.at(t).memory > 0;
  for (int n : per_rank) CHECK(n <= 2);
  platform small = platform::uniform(2, 200);  // room for four of the six
  REQUIRE_THROWS_AS(TestType{}.place(g, small), graph_error);
  REQUIRE_THROWS_WITH(TestType{}.place(g, small), Catch::Contains("needs 100 bytes but fits on no rank") &&
                                                      Catch::Contains("'mid"));
}

TEST_CASE("order_on lists a rank's tasks in a dependency-respecting order", "[dag]") {
  graph g;
  auto a = g.add_task("a", {{"cpu", 0.0}});
  auto b = g.add_task("b", {{"cpu", 0.0}});
  g.add_edge(b, a);
  auto const s = heft{}.place(g, platform::uniform(1));
  CHECK(s.order_on(0, g.topological_order()) == std::vector<task_id>{b, a});
}
