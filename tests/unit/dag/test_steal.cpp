// Which tasks of a task flow may be stolen (detail::movable_tasks), without MPI; and a single process
// with stealing on runs as without it.
#include <catch2/catch.hpp>

#include <strata/dag/task_flow.hpp>

#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

using namespace strata::dag;

TEST_CASE("steal: a task moves only if its read plus written bytes fit max_bytes and, with a bandwidth, beat its cost",
          "[dag][flow][steal]") {
  graph g;
  g.add_task("rw", {{"cpu", 1e-3}});     // reads and writes handle 0 (1000 bytes): 2000 bytes
  g.add_task("w", {{"cpu", 1e-3}});      // writes handle 1 (500 bytes): 500 bytes
  g.add_task("r2", {{"cpu", 1e-6}});     // reads 0 and 1: 1500 bytes
  std::vector<detail::flow_task> tasks(3);
  tasks[0].accesses = {{0, access_mode::readwrite}};
  tasks[1].accesses = {{1, access_mode::write}};
  tasks[2].accesses = {{0, access_mode::read}, {1, access_mode::read}};
  std::vector<data_info> data = {{"a", 1000, 0}, {"b", 500, 1}};
  CHECK(detail::movable_tasks(tasks, data, g, 2000, 0.0) == std::vector<char>{1, 1, 1});
  CHECK(detail::movable_tasks(tasks, data, g, 1999, 0.0) == std::vector<char>{0, 1, 1});
  CHECK(detail::movable_tasks(tasks, data, g, 499, 0.0) == std::vector<char>{0, 0, 0});
  // 1e6 B/s: 2000 bytes take 2 ms > 1 ms, 500 bytes 0.5 ms < 1 ms, 1500 bytes 1.5 ms > 1 us.
  CHECK(detail::movable_tasks(tasks, data, g, 1 << 20, 1e6) == std::vector<char>{0, 1, 0});
}

TEST_CASE("steal: without MPI the option changes nothing", "[dag][flow][steal]") {
  std::vector<double> x{1, 2, 3};
  task_flow<> flow{{.workers = 2, .steal = {.enabled = true}}};
  auto h = flow.register_data("x", x);
  flow.submit({.name = "double", .cost = 1e-3}, [](std::span<double> v) { for (auto& e : v) e *= 2; }, readwrite(h));
  auto const res = flow.run();
  CHECK(x == std::vector<double>{2, 4, 6});
  CHECK(res.tasks_stolen == 0);
  CHECK(res.rank_of == std::vector<int>{0});
  CHECK(flow_options{.steal = {.enabled = true}} != flow_options{});
}

TEST_CASE("steal victims: round robin over the others; a round of refusals waits as the dispatcher's backoff", "[dag][steal]") {
  using clock = std::chrono::steady_clock;
  strata::dag::detail::victim_picker v(1, 3);  // rank 1 of 3
  CHECK(v.next() == 2);
  v.refused();
  CHECK(v.next() == 0);  // skips itself
  CHECK(v.may_ask(clock::now()));
  auto t = clock::now();
  v.refused();  // a whole round refused: wait 0.05-0.1 ms (0.1 ms, jitter up to half), never above the 2 ms cap
  CHECK_FALSE(v.may_ask(t));
  CHECK(v.may_ask(clock::now() + std::chrono::microseconds(101)));
  t = clock::now();
  for (int round = 0; round < 20; ++round) v.refused(), v.refused();  // the wait grows, capped
  CHECK_FALSE(v.may_ask(t + std::chrono::microseconds(900)));  // at least half the 2 ms cap
  CHECK(v.may_ask(clock::now() + std::chrono::microseconds(2001)));
  v.accepted();  // an accepted request: the next round of refusals starts from 0.1 ms again
  v.refused(), v.refused();
  CHECK(v.may_ask(clock::now() + std::chrono::microseconds(101)));
}
