// dag::task_flow on one process (no MPI): dependency inference, concurrent execution, priorities, errors.
#include <catch2/catch.hpp>

#include <strata/dag/flow_placement.hpp>
#include <strata/dag/task_flow.hpp>
#include <support/versioned_program.hpp>

#include <thrust/host_vector.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

using namespace strata::dag;

namespace {
// Whether g has an edge from -> to (and its bytes).
std::optional<std::uint64_t> edge_bytes(graph const& g, task_id from, task_id to) {
  for (auto ei : g.in_edges(to))
    if (g.edges()[ei].from == from) return g.edges()[ei].bytes;
  return std::nullopt;
}
using strata::test::busy_for;
using strata::test::versioned_program;
}  // namespace

TEST_CASE("task_flow infers RAW, WAR and WAW edges, one per predecessor", "[dag][flow]") {
  STATIC_REQUIRE(flow_placement<planned<heft>>);
  STATIC_REQUIRE(flow_placement<planned<eager>>);
  STATIC_REQUIRE(flow_placement<locality>);
  STATIC_REQUIRE(flow_placement<owner_computes>);
  std::vector<double> a(4), b(4);
  task_flow<> flow;
  auto ha = flow.register_data("a", a);
  auto hb = flow.register_data("b", b);
  auto nop = [](auto...) {};
  auto w1 = flow.submit({.name = "w1"}, nop, write(ha));
  auto r1 = flow.submit({.name = "r1"}, nop, read(ha));
  auto r2 = flow.submit({.name = "r2"}, nop, read(ha), write(hb));
  auto w2 = flow.submit({.name = "w2"}, nop, write(ha));
  auto u = flow.submit({.name = "u"}, nop, readwrite(ha), read(hb));
  auto const& g = flow.inferred_graph();
  CHECK(edge_bytes(g, w1, r1) == 32u);  // RAW carries the bytes
  CHECK(edge_bytes(g, w1, r2) == 32u);
  CHECK(edge_bytes(g, r1, w2) == 0u);   // WAR
  CHECK(edge_bytes(g, r2, w2) == 0u);
  CHECK(edge_bytes(g, w1, w2) == 0u);   // WAW
  CHECK(edge_bytes(g, w2, u) == 32u);   // RAW through readwrite
  CHECK(edge_bytes(g, r2, u) == 32u);   // RAW on b: one edge for both handles' dependencies
  CHECK_FALSE(edge_bytes(g, r1, r2));   // readers do not order each other
  CHECK_FALSE(edge_bytes(g, w1, u));    // superseded writer: reached through w2
  CHECK(g.in_edges(u).size() == 2);
  CHECK(flow.producer(r2, 0) == w1);
  CHECK(flow.producer(w2, 0) == std::nullopt);  // write-only reads nothing
  CHECK(flow.producer(u, 0) == w2);
  CHECK(flow.producer(u, 1) == r2);
  CHECK(flow.producer(w1, 0) == std::nullopt);
}

TEST_CASE("task_flow: every reader sees the latest writer in program order, 4 workers", "[dag][flow]") {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    versioned_program prog;
    task_flow<> flow{{.workers = 4}};
    prog.submit_all(flow, 6, 300, 1, seed);
    auto res = flow.run();
    CHECK(prog.wrong == 0);
    CHECK(prog.wrong_final() == 0);
    CHECK(res.tasks_run == 300);
    CHECK(res.transfers == 0);
    CHECK(flow.size() == 0);  // empty again after a run
  }
}

TEST_CASE("task_flow: workers counts the calling thread; progress_thread keeps it out of the tasks", "[dag][flow]") {
  struct mode {
    int workers;
    bool progress_thread;
  };
  for (auto const m : {mode{1, false}, mode{3, false}, mode{1, true}, mode{3, true}}) {
    INFO("workers " << m.workers << ", progress_thread " << m.progress_thread);
    versioned_program prog;
    task_flow<> flow{{.workers = m.workers, .progress_thread = m.progress_thread}};
    prog.submit_all(flow, 6, 200, 1, 7u + static_cast<unsigned>(m.workers));
    auto const res = flow.run();
    CHECK(prog.wrong == 0);
    CHECK(prog.wrong_final() == 0);
    CHECK(res.tasks_run == 200);
    CHECK(prog.thread_rule_broken(m.workers, m.progress_thread) == "");
    CHECK(prog.ran_on.contains(std::this_thread::get_id()) == !m.progress_thread);  // 200 tasks: the caller takes some
    if (m.workers == 3) CHECK(prog.ran_on.size() > 1);  // the pool takes tasks too
  }
}

TEST_CASE("task_flow runs a second batch on the values left by the first", "[dag][flow]") {
  thrust::host_vector<double> x(8, 1.0);
  task_flow<locality> flow{{.workers = 2}};
  auto h = flow.register_data("x", x);
  for (int batch = 0; batch < 2; ++batch) {
    for (int k = 0; k < 5; ++k)
      flow.submit({.name = "double", .cost = 1e-6}, [](std::span<double> v) { for (auto& e : v) e *= 2; }, readwrite(h));
    flow.run();
  }
  CHECK(x[0] == 1024.0);
  CHECK(x[7] == 1024.0);
}

TEST_CASE("task_flow: one worker takes ready tasks by upward rank, not in submission order", "[dag][flow]") {
  std::vector<int> c(1), a(1), b(1);
  std::vector<std::string> order;
  std::mutex m;
  task_flow<> flow{{.workers = 1}};
  auto hc = flow.register_data("c", c);
  auto ha = flow.register_data("a", a);
  auto hb = flow.register_data("b", b);
  auto log = [&](std::string s) {
    return [&, s](auto...) {
      std::lock_guard lk(m);
      order.push_back(s);
    };
  };
  flow.submit({.name = "C", .cost = 5}, log("C"), write(hc));
  flow.submit({.name = "A", .cost = 1}, log("A"), write(ha));
  flow.submit({.name = "B", .cost = 10}, log("B"), read(ha), write(hb));
  flow.submit({.name = "D", .cost = 2}, log("D"), write(hb));  // after B (WAW), lowest priority
  auto const up = flow.priorities();
  CHECK(up == std::vector<double>{5, 13, 12, 2});
  flow.run();
  CHECK(order == std::vector<std::string>{"A", "B", "C", "D"});
}

TEST_CASE("task_flow errors name the task and the handle", "[dag][flow]") {
  std::vector<double> a(2), b(2);
  task_flow<> flow;
  auto ha = flow.register_data("a", a);
  auto hb = flow.register_data("b", b, {.initialized = false});
  auto nop = [](auto...) {};

  SECTION("reading a handle no one wrote") {
    try {
      flow.submit({.name = "consume"}, nop, read(hb));
      FAIL("no error");
    } catch (flow_error const& e) {
      CHECK(e.task() == "consume");
      CHECK(e.handle() == "b");
      CHECK_THAT(e.what(), Catch::Contains("task 'consume' reads handle 'b', which has no value"));
    }
    flow.submit({.name = "produce"}, nop, write(hb));
    CHECK_NOTHROW(flow.submit({.name = "consume"}, nop, read(hb)));  // written first: fine
  }
  SECTION("unregistering a handle a submitted task uses, and using it afterwards") {
    flow.submit({.name = "user"}, nop, readwrite(ha));
    REQUIRE_THROWS_WITH(flow.unregister_data(ha), Catch::Contains("handle 'a' cannot be unregistered: task 'user'"));
    flow.run();
    flow.unregister_data(ha);
    REQUIRE_THROWS_WITH(flow.submit({.name = "late"}, nop, read(ha)),
                        Catch::Contains("task 'late' uses handle 'a', which was unregistered"));
  }
  SECTION("a handle named twice in one task") {
    REQUIRE_THROWS_WITH(flow.submit({.name = "twice"}, nop, read(ha), write(ha)),
                        Catch::Contains("task 'twice' names handle 'a' twice"));
  }
  SECTION("a handle from elsewhere") {
    REQUIRE_THROWS_AS(flow.submit({.name = "alien"}, nop, read(data_handle<double>(42))), flow_error);
  }
  SECTION("a home rank that a run without MPI does not have") {
    std::vector<double> c(1);
    flow.register_data("c", c, {.home = 1});
    REQUIRE_THROWS_WITH(flow.run(), Catch::Contains("handle 'c' has home rank 1"));
  }
}

TEST_CASE("task_flow: a task that throws stops the run with a task_error naming it", "[dag][flow]") {
  std::vector<int> v(1, 0);
  task_flow<> flow{{.workers = 2}};
  auto h = flow.register_data("v", v);
  std::atomic<int> ran_after{0};
  for (int k = 0; k < 20; ++k) flow.submit({.name = "inc"}, [](std::span<int> x) { ++x[0]; }, readwrite(h));
  flow.submit({.name = "boom"}, [](std::span<int>) { throw std::runtime_error("tile not positive definite"); }, readwrite(h));
  for (int k = 0; k < 20; ++k) flow.submit({.name = "after"}, [&](std::span<int>) { ++ran_after; }, readwrite(h));
  try {
    flow.run();
    FAIL("no error");
  } catch (task_error const& e) {
    CHECK(e.task() == "boom");
    CHECK(e.rank() == 0);
    CHECK(e.reason() == "tile not positive definite");
    CHECK_THAT(e.what(), Catch::Contains("task 'boom' threw on rank 0: tile not positive definite"));
  }
  CHECK(v[0] == 20);
  CHECK(ran_after == 0);  // its successors never ran
  // The flow is usable again.
  flow.submit({.name = "again"}, [](std::span<int> x) { x[0] = -1; }, write(h));
  flow.run();
  CHECK(v[0] == -1);
}

TEST_CASE("locality places a task where most of its input bytes are; owner_computes where it writes; planned<heft> spreads independent work",
          "[dag][flow]") {
  graph g;
  std::vector<data_info> data = {{"x", 800, 0}, {"y", 100, 1}, {"z", 100, 1}};
  std::vector<std::vector<data_access>> acc;
  auto add = [&](std::vector<data_access> a) {
    g.add_task("t" + std::to_string(acc.size()), {{"cpu", 1.0}});
    acc.push_back(std::move(a));
  };
  add({{0, access_mode::read}, {1, access_mode::write}});             // x (800 on 0) beats nothing: rank 0
  add({{1, access_mode::read}, {2, access_mode::readwrite}});         // y now on 0 (100), z on 1 (2 x 100): rank 1
  add({{2, access_mode::read}, {0, access_mode::read}});              // z on 1 (100), x on 0 (800): rank 0
  add({{2, access_mode::write}});                                     // reads nothing: least loaded (rank 1)
  auto const r = locality{}.assign({g, acc, data, 2, 1});
  CHECK(r == std::vector<int>{0, 1, 0, 1});

  // Owner computes: the home of the first handle written (x 0, y 1, z 1), else of the first read.
  add({{1, access_mode::read}});                                      // writes nothing: y's home
  add({});                                                            // touches nothing: rank 0
  auto const o = owner_computes{}.assign({g, acc, data, 2, 1});
  CHECK(o == std::vector<int>{1, 1, 1, 1, 1, 0});  // t2 writes nothing: z's home

  graph wide;
  std::vector<std::vector<data_access>> none(8);
  for (int i = 0; i < 8; ++i) wide.add_task("w" + std::to_string(i), {{"cpu", 1.0}});
  auto const spread = planned<heft>{}.assign({wide, none, {}, 2, 2});
  CHECK(std::ranges::count(spread, 0) == 4);
  CHECK(std::ranges::count(spread, 1) == 4);
}
