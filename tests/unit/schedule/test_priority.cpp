#include <catch2/catch.hpp>
#include <strata/schedule/detail/ready_queue.hpp>
#include <strata/schedule/priority.hpp>

#include <deque>
#include <tuple>

using namespace strata::schedule;

TEST_CASE("weighted_ageing computes the SPEC S6 formula", "[schedule][priority]") {
  auto const t0 = clock::now();
  weighted_ageing p;
  task t{1, {}, {.business_level = 2.0, .resource_demand = 0.25}, t0};
  // 0.6*2 + 0.3*min(20/10, 5) + 0.1*(1-0.25)
  CHECK(p.score(t, t0 + std::chrono::seconds(20)) == Approx(1.2 + 0.6 + 0.075));
  // ageing caps at 5 units
  CHECK(p.score(t, t0 + std::chrono::seconds(1000)) == Approx(1.2 + 1.5 + 0.075));
  weighted_ageing q{.level_weight = 1.0, .ageing_weight = 0.0, .light_weight = 0.0};
  CHECK(q.score(t, t0 + std::chrono::seconds(20)) == Approx(2.0));
  CHECK_FALSE(p == q);
}

using policies = std::tuple<fcfs, static_priority, weighted_ageing>;

TEMPLATE_LIST_TEST_CASE("every priority policy drains the queue completely, ties first come first served",
                        "[schedule][priority]", policies) {
  STATIC_REQUIRE(priority_policy<TestType>);
  auto const t0 = clock::now();
  std::deque<task> tasks;
  detail::ready_queue<TestType, task> q;
  for (std::uint64_t i = 0; i < 5; ++i) {
    tasks.emplace_back(i, std::vector<std::byte>{}, task_spec{}, t0);
    q.push(&tasks.back(), i, t0);
  }
  for (std::uint64_t i = 0; i < 5; ++i) {
    auto const* t = q.pop(t0);
    REQUIRE(t != nullptr);
    CHECK(t->id() == i);
  }
  CHECK(q.pop(t0) == nullptr);
}

TEST_CASE("policies order tasks as their formulas say", "[schedule][priority]") {
  auto const t0 = clock::now();
  std::deque<task> tasks;
  // old, low level, heavy | new, high level, heavy | new, low level, light
  tasks.emplace_back(1, std::vector<std::byte>{}, task_spec{.business_level = 0, .resource_demand = 1.0},
                     t0 - std::chrono::seconds(40));
  tasks.emplace_back(2, std::vector<std::byte>{}, task_spec{.business_level = 1, .resource_demand = 1.0}, t0);
  tasks.emplace_back(3, std::vector<std::byte>{}, task_spec{.business_level = 0, .resource_demand = 0.0}, t0);
  auto order = [&](auto policy) {
    detail::ready_queue<decltype(policy), task> q{policy};
    std::uint64_t seq = 0;
    for (auto& t : tasks) q.push(&t, seq++, t0);
    std::vector<task_id> out;
    while (auto const* t = q.pop(t0)) out.push_back(t->id());
    return out;
  };
  CHECK(order(fcfs{}) == std::vector<task_id>{1, 2, 3});
  CHECK(order(static_priority{}) == std::vector<task_id>{2, 1, 3});
  // weighted: 1 -> 0.3*4 = 1.2 ; 2 -> 0.6 ; 3 -> 0.1
  CHECK(order(weighted_ageing{}) == std::vector<task_id>{1, 2, 3});
  // without ageing the level wins, then the light task
  CHECK(order(weighted_ageing{.ageing_weight = 0}) == std::vector<task_id>{2, 3, 1});
}

TEST_CASE("ready_queue::remove_if takes tasks out", "[schedule][priority]") {
  auto const t0 = clock::now();
  std::deque<task> tasks;
  detail::ready_queue<weighted_ageing, task> q;
  for (std::uint64_t i = 0; i < 6; ++i) {
    tasks.emplace_back(i, std::vector<std::byte>{}, task_spec{}, t0);
    q.push(&tasks.back(), i, t0);
  }
  std::vector<task_id> removed;
  q.remove_if([](task const& t) { return t.id() % 2 == 0; }, [&](task const& t) { removed.push_back(t.id()); });
  CHECK(removed.size() == 3);
  CHECK(q.size() == 3);
  while (auto const* t = q.pop(t0)) CHECK(t->id() % 2 == 1);
}
