#include <catch2/catch.hpp>
#include <strata/trigger/every_n.hpp>
#include <strata/trigger/every_seconds.hpp>

using namespace strata;
using namespace std::chrono_literals;

TEMPLATE_TEST_CASE("triggers model the concept", "[trigger]", trigger::every_n, trigger::every_seconds) {
  STATIC_REQUIRE(trigger::policy<TestType>);
}

TEST_CASE("every_n is due at positive multiples of n", "[trigger]") {
  trigger::every_n t{10};
  auto now = trigger::clock::now();
  CHECK_FALSE(t.due(0, now));
  CHECK_FALSE(t.due(9, now));
  CHECK(t.due(10, now));
  CHECK_FALSE(t.due(11, now));
  CHECK(t.due(20, now));
  trigger::every_n off{0};
  CHECK_FALSE(off.due(10, now));
}

TEST_CASE("every_seconds is due once the interval has passed since the last checkpoint", "[trigger]") {
  trigger::every_seconds t{5.0};
  auto const t0 = trigger::clock::now();
  CHECK_FALSE(t.due(1, t0));
  CHECK_FALSE(t.due(2, t0 + 4s));
  CHECK(t.due(3, t0 + 5s));
  t.record({3, t0 + 6s, 0.1, 100});
  CHECK_FALSE(t.due(4, t0 + 10s));
  CHECK(t.due(5, t0 + 11s));
}
