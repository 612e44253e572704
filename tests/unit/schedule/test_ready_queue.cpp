#include <catch2/catch.hpp>
#include <strata/schedule/detail/ready_queue.hpp>
#include <strata/schedule/priority.hpp>

#include <chrono>
#include <deque>
#include <random>
#include <type_traits>
#include <vector>

using namespace strata::schedule;

static_assert(std::is_same_v<detail::ready_queue<weighted_ageing, task>, detail::ageing_queue<weighted_ageing, task>>);
static_assert(std::is_same_v<detail::ready_queue<fcfs, task>, detail::static_queue<fcfs, task>>);

namespace {
clock::time_point at(clock::time_point t0, double s) {
  return t0 + std::chrono::duration_cast<clock::duration>(seconds{s});
}

/// Drives the indexed queue and the naive rescoring queue with the same random pushes, pops (at increasing
/// times that cross the ageing cap) and removals; every pop must return the same task.
std::size_t compare_with_rescoring(weighted_ageing policy, std::uint64_t seed, bool time_goes_back) {
  auto const t0 = clock::now();
  std::mt19937_64 rng{seed};
  std::uniform_real_distribution<double> u{0.0, 1.0};
  std::deque<task> tasks;
  detail::ageing_queue<weighted_ageing, task> fast{policy};
  detail::rescoring_queue<weighted_ageing, task> naive{policy};
  double now = 0.0;
  std::uint64_t seq = 0;
  std::size_t pops = 0;
  for (int step = 0; step < 4000; ++step) {
    double const r = u(rng);
    if (r < 0.55) {
      // created up to 80 s ago (some already past the 50 s cap) or up to 5 s in the future (not yet ageing)
      double const created = now - 80.0 * u(rng) + (u(rng) < 0.1 ? 5.0 * u(rng) : 0.0);
      double const level = u(rng) < 0.5 ? std::floor(4 * u(rng)) : 3 * u(rng);
      tasks.emplace_back(seq, std::vector<std::byte>{},
                         task_spec{.business_level = level, .resource_demand = u(rng)}, at(t0, created));
      fast.push(&tasks.back(), seq, at(t0, now));
      naive.push(&tasks.back(), seq, at(t0, now));
      ++seq;
    } else if (r < 0.97) {
      auto const* a = fast.pop(at(t0, now));
      auto const* b = naive.pop(at(t0, now));
      REQUIRE(a == b);
      if (a) ++pops;
    } else {
      std::uint64_t const m = 2 + static_cast<std::uint64_t>(5 * u(rng));
      std::vector<task_id> ra, rb;
      fast.remove_if([&](task const& t) { return t.id() % m == 0; }, [&](task const& t) { ra.push_back(t.id()); });
      naive.remove_if([&](task const& t) { return t.id() % m == 0; }, [&](task const& t) { rb.push_back(t.id()); });
      std::sort(ra.begin(), ra.end());
      std::sort(rb.begin(), rb.end());
      REQUIRE(ra == rb);
    }
    REQUIRE(fast.size() == naive.size());
    now += 0.5 * u(rng);
    if (time_goes_back && u(rng) < 0.02) now -= 20.0 * u(rng);
  }
  while (!naive.empty()) {
    now += 1.0;
    auto const* a = fast.pop(at(t0, now));
    REQUIRE(a == naive.pop(at(t0, now)));
    ++pops;
  }
  CHECK(fast.empty());
  CHECK(fast.pop(at(t0, now)) == nullptr);
  return pops;
}
}  // namespace

TEST_CASE("ageing_queue pops in exactly the order of rescoring the whole queue", "[schedule][priority]") {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) CHECK(compare_with_rescoring(weighted_ageing{}, seed, false) > 1000);
  // other weights: fast ageing that overtakes levels, a short cap, no ageing at all
  CHECK(compare_with_rescoring(weighted_ageing{.ageing_weight = 3.0}, 11, false) > 1000);
  CHECK(compare_with_rescoring(weighted_ageing{.ageing_period_s = 1.0, .ageing_cap = 2.0}, 12, false) > 1000);
  CHECK(compare_with_rescoring(weighted_ageing{.ageing_weight = 0.0}, 13, false) > 1000);
}

TEST_CASE("ageing_queue stays exact when the clock handed to pop goes backwards", "[schedule][priority]") {
  CHECK(compare_with_rescoring(weighted_ageing{}, 21, true) > 1000);
}

TEST_CASE("ageing_queue: a task past the ageing cap no longer gains on a younger one", "[schedule][priority]") {
  auto const t0 = clock::now();
  std::deque<task> tasks;
  // A: level 1, created 100 s ago (capped at 5 units: 0.6 + 1.5 + 0.1 = 2.2)
  // B: level 0, light, created 60 s ago (capped too: 0 + 1.5 + 0.1 = 1.6)
  // C: level 2, created 20 s ago (1.2 + 0.6 + 0.1 = 1.9; at t0 + 40 s: 1.2 + 1.5 + 0.1 = 2.8)
  tasks.emplace_back(1, std::vector<std::byte>{}, task_spec{.business_level = 1}, at(t0, -100));
  tasks.emplace_back(2, std::vector<std::byte>{}, task_spec{.business_level = 0}, at(t0, -60));
  tasks.emplace_back(3, std::vector<std::byte>{}, task_spec{.business_level = 2}, at(t0, -20));
  auto order = [&](double when) {
    detail::ready_queue<weighted_ageing, task> q;
    std::uint64_t seq = 0;
    for (auto& t : tasks) q.push(&t, seq++, t0);
    std::vector<task_id> out;
    while (auto const* t = q.pop(at(t0, when))) out.push_back(t->id());
    return out;
  };
  CHECK(order(0) == std::vector<task_id>{1, 3, 2});
  CHECK(order(40) == std::vector<task_id>{3, 1, 2});
}
