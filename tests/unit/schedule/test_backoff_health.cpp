#include <catch2/catch.hpp>
#include <strata/schedule/backoff.hpp>
#include <strata/schedule/health.hpp>

#include <random>

using namespace strata::schedule;

TEST_CASE("exponential_backoff grows, is capped, and jitters within bounds (R10c)", "[schedule][backoff]") {
  exponential_backoff b{.base = seconds{0.1}, .factor = 2.0, .cap = seconds{1.0}, .jitter = 0.5};
  std::mt19937_64 rng{1};
  for (unsigned k = 0; k < 12; ++k) {
    double const nominal = std::min(1.0, 0.1 * std::pow(2.0, k));
    for (int i = 0; i < 50; ++i) {
      double const d = b.delay(k, rng).count();
      CHECK(d <= nominal + 1e-12);
      CHECK(d > nominal * 0.5 - 1e-12);
    }
  }
  exponential_backoff none{.jitter = 0.0};
  CHECK(none.delay(3, rng).count() == Approx(0.8));
  CHECK_THROWS_AS((exponential_backoff{.factor = 0.5}.validate()), strata::usage_error);
  CHECK_THROWS_AS((exponential_backoff{.jitter = 2.0}.validate()), strata::usage_error);
  // jitter spreads delays
  std::mt19937_64 g{2};
  double lo = 1e9, hi = 0;
  for (int i = 0; i < 100; ++i) {
    double const d = b.delay(20, g).count();
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  CHECK(hi - lo > 0.2);
}

TEST_CASE("health: dead only after more than N failed checks AND stale last success (R6)", "[schedule][health]") {
  auto const t0 = clock::now();
  auto at = [&](double s) { return t0 + std::chrono::duration_cast<clock::duration>(seconds{s}); };
  health_monitor h{2, {.max_consecutive_failures = 3, .stale_after = seconds{30}, .check_period = seconds{1}}, t0};
  // peer 1 keeps talking, peer 0 goes silent after t = 0.
  for (int s = 1; s <= 29; ++s) {
    h.heard_from(1, at(s - 0.5));
    CHECK(h.check(at(s)).empty());  // more than 3 failed checks, but last success < 30 s ago
  }
  CHECK(h.consecutive_failures(0) > 3);
  CHECK_FALSE(h.dead(0));
  h.heard_from(1, at(30.5));
  auto dead = h.check(at(31));
  REQUIRE(dead == std::vector<std::size_t>{0});
  CHECK(h.dead(0));
  CHECK_FALSE(h.dead(1));
  CHECK(h.check(at(32)).empty());  // reported once
  // a peer that answers again is revived
  CHECK(h.heard_from(0, at(33)));
  CHECK_FALSE(h.dead(0));
  CHECK(h.consecutive_failures(0) == 0);
}

TEST_CASE("health: recent silence alone does not kill, errors count as failed checks", "[schedule][health]") {
  auto const t0 = clock::now();
  auto at = [&](double s) { return t0 + std::chrono::duration_cast<clock::duration>(seconds{s}); };
  health_monitor h{1, {.max_consecutive_failures = 3, .stale_after = seconds{0.5}, .check_period = seconds{0.1}}, t0};
  CHECK(h.check(at(0.35)).empty());  // 3 failed checks: not more than 3
  CHECK(h.consecutive_failures(0) == 3);
  CHECK(h.check(at(0.45)).empty());  // 4 failed checks but last success 0.45 s ago
  CHECK(h.check(at(0.55)) == std::vector<std::size_t>{0});
  health_monitor e{1, {.max_consecutive_failures = 1, .stale_after = seconds{0}, .check_period = seconds{10}}, t0};
  e.error(0);
  e.error(0);
  CHECK(e.errors(0) == 2);
  CHECK(e.check(at(0.01)) == std::vector<std::size_t>{0});
  CHECK_THROWS_AS(e.dead(5), strata::usage_error);
}
