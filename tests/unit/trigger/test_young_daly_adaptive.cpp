// trigger::young_daly and trigger::adaptive.
#include <catch2/catch.hpp>
#include <strata/trigger/adaptive.hpp>
#include <strata/trigger/young_daly.hpp>

#include <cmath>

using namespace strata::trigger;
using namespace std::chrono_literals;

TEST_CASE("young_daly: interval sqrt(2 C MTBF) from the measured cost, bounded", "[trigger]") {
  STATIC_REQUIRE(policy<young_daly>);
  young_daly t{.mtbf_seconds = 3600.0, .first_seconds = 5.0, .min_seconds = 1.0, .max_seconds = 600.0, .window = 2};
  auto const t0 = clock::now();
  CHECK(t.interval_seconds() == 5.0);
  CHECK_FALSE(t.due(1, t0));
  CHECK_FALSE(t.due(2, t0 + 4s));
  CHECK(t.due(3, t0 + 5s));
  t.record({3, t0 + 5s, 0.5, 100});  // C = 0.5 s -> sqrt(3600) = 60 s
  CHECK(t.interval_seconds() == Approx(60.0));
  CHECK_FALSE(t.due(4, t0 + 64s));
  CHECK(t.due(5, t0 + 66s));
  t.record({5, t0 + 66s, 1.5, 100});  // mean of the last 2: C = 1.0 -> sqrt(7200)
  CHECK(t.interval_seconds() == Approx(std::sqrt(7200.0)));
  t.record({6, t0 + 70s, 1000.0, 100});  // C huge: capped
  CHECK(t.interval_seconds() == 600.0);
  t.record({7, t0 + 71s, 0.0, 100});
  t.record({8, t0 + 72s, 0.0, 100});
  CHECK(t.interval_seconds() == 1.0);  // floor
}

TEST_CASE("adaptive: sooner when much changes, later when little does, within bounds", "[trigger]") {
  STATIC_REQUIRE(policy<adaptive>);
  adaptive t{.min_steps = 10, .max_steps = 80, .first_steps = 20, .low = 0.02, .high = 0.2};
  auto const now = clock::now();
  CHECK_FALSE(t.due(19, now));
  CHECK(t.due(20, now));
  t.observe_change(0.5);
  t.record({20, now, 0, 0});
  CHECK(t.interval() == 10);
  CHECK(t.due(30, now));
  t.observe_change(0.9);
  t.record({30, now, 0, 0});
  CHECK(t.interval() == 10);  // floor
  for (std::uint64_t s = 40; s <= 100; s += 10) {
    t.observe_change(0.001);
    t.record({s, now, 0, 0});
  }
  CHECK(t.interval() == 80);  // ceiling
  t.observe_change(0.05);
  t.record({200, now, 0, 0});
  CHECK(t.interval() == 80);  // in between: unchanged
  CHECK_FALSE(t.due(279, now));
  CHECK(t.due(280, now));
  // Without observe_change: bytes relative to the largest checkpoint seen.
  adaptive b{.min_steps = 1, .max_steps = 1000, .first_steps = 16};
  b.record({16, now, 0, 1000});  // the base: fraction 1
  CHECK(b.interval() == 8);
  b.record({24, now, 0, 10});  // 1 %
  CHECK(b.interval() == 16);
}
