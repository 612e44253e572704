#include <catch2/catch.hpp>
#include <strata/schedule/selection.hpp>

#include <map>
#include <tuple>

using namespace strata::schedule;

namespace {
std::vector<worker_status> make_workers(std::size_t n) {
  std::vector<worker_status> w(n);
  for (std::size_t i = 0; i < n; ++i) {
    w[i].rank = static_cast<int>(i) + 1;
    w[i].free_memory = 1000;
    w[i].total_memory = 1000;
    w[i].latency_s = 0.01;
  }
  return w;
}
template <class S>
void set(S& s, std::vector<worker_status>& w, std::size_t i, auto&& change) {
  change(w[i]);
  s.update(worker_view(w), i);
}
}  // namespace

using all_policies = std::tuple<round_robin, least_loaded, filter_score, ewma_proportional>;

TEMPLATE_LIST_TEST_CASE("a selection policy only picks available workers", "[schedule][selection]", all_policies) {
  STATIC_REQUIRE(selection_policy<TestType>);
  TestType s{};
  auto w = make_workers(37);
  for (std::size_t i = 0; i < w.size(); ++i)
    if (i != 5 && i != 30) set(s, w, i, [](worker_status& x) { x.available = false; });
  for (int k = 0; k < 200; ++k) {
    auto const pick = s.select(worker_view(w), {});
    REQUIRE(pick);
    CHECK((*pick == 5 || *pick == 30));
  }
  set(s, w, 5, [](worker_status& x) { x.available = false; });
  set(s, w, 30, [](worker_status& x) { x.available = false; });
  CHECK_FALSE(s.select(worker_view(w), {}));
  TestType empty{};
  CHECK_FALSE(empty.select(worker_view{}, {}));
}

TEST_CASE("round_robin cycles", "[schedule][selection]") {
  round_robin s;
  auto w = make_workers(3);
  std::vector<std::size_t> picks;
  for (int k = 0; k < 6; ++k) picks.push_back(*s.select(worker_view(w), {}));
  CHECK(picks == std::vector<std::size_t>{0, 1, 2, 0, 1, 2});
}

TEST_CASE("least_loaded picks the fewest in flight, then the lowest latency", "[schedule][selection]") {
  least_loaded s;
  auto w = make_workers(100);
  for (std::size_t i = 0; i < w.size(); ++i) set(s, w, i, [](worker_status& x) { x.in_flight = 3; });
  set(s, w, 42, [](worker_status& x) { x.in_flight = 1; x.latency_s = 5.0; });
  set(s, w, 77, [](worker_status& x) { x.in_flight = 1; x.latency_s = 0.5; });
  CHECK(*s.select(worker_view(w), {}) == 77);
  set(s, w, 77, [](worker_status& x) { x.in_flight = 2; });
  CHECK(*s.select(worker_view(w), {}) == 42);
}

TEST_CASE("filter_score drops workers without memory, then takes the lowest S2 score", "[schedule][selection]") {
  filter_score s;
  auto w = make_workers(4);
  // latency * (1 + 0.5 * (1 - free/total))
  set(s, w, 0, [](worker_status& x) { x.latency_s = 0.010; x.free_memory = 100; });   // 0.010 * 1.45 = 0.0145
  set(s, w, 1, [](worker_status& x) { x.latency_s = 0.012; x.free_memory = 1000; });  // 0.012
  set(s, w, 2, [](worker_status& x) { x.latency_s = 0.013; x.free_memory = 900; });   // 0.013 * 1.05 = 0.01365
  set(s, w, 3, [](worker_status& x) { x.latency_s = 0.002; x.free_memory = 50; });    // 0.002 * 1.475, little memory
  CHECK(s.score(w[0]) == Approx(0.0145));
  CHECK(*s.select(worker_view(w), {.memory_needed = 0}) == 3);
  CHECK(*s.select(worker_view(w), {.memory_needed = 60}) == 1);
  CHECK(*s.select(worker_view(w), {.memory_needed = 950}) == 1);
  set(s, w, 1, [](worker_status& x) { x.free_memory = 10; });
  CHECK(*s.select(worker_view(w), {.memory_needed = 60}) == 2);  // 0.01365 < 0.0145
  CHECK(*s.select(worker_view(w), {.memory_needed = 200}) == 2);
  set(s, w, 2, [](worker_status& x) { x.free_memory = 20; });
  CHECK(*s.select(worker_view(w), {.memory_needed = 60}) == 0);
  CHECK_FALSE(s.select(worker_view(w), {.memory_needed = 5000}));
}

TEST_CASE("filter_score agrees with a linear scan at scale", "[schedule][selection]") {
  filter_score s;
  auto w = make_workers(4096);
  std::mt19937_64 rng{3};
  for (int round = 0; round < 2000; ++round) {
    auto const i = rng() % w.size();
    set(s, w, i, [&](worker_status& x) {
      x.latency_s = 0.001 + static_cast<double>(rng() % 1000) * 1e-4;
      x.free_memory = rng() % 1001;
      x.available = rng() % 8 != 0;
    });
    std::uint64_t const need = rng() % 1000;
    std::optional<std::size_t> expect;
    for (std::size_t j = 0; j < w.size(); ++j)
      if (w[j].available && w[j].free_memory >= need && (!expect || s.score(w[j]) < s.score(w[*expect]))) expect = j;
    auto const got = s.select(worker_view(w), {.memory_needed = need});
    REQUIRE(got.has_value() == expect.has_value());
    if (got) CHECK(s.score(w[*got]) == s.score(w[*expect]));
  }
}

TEST_CASE("ewma_proportional picks in proportion to 1/L (SPEC S5)", "[schedule][selection]") {
  CHECK_THROWS_AS(ewma_proportional(0.5), strata::usage_error);
  CHECK_THROWS_AS(ewma_proportional(0.95), strata::usage_error);
  ewma_proportional s{0.8, 11};
  auto w = make_workers(3);
  // responses: worker 0 at 0.1 s, worker 1 at 0.2 s, worker 2 at 0.4 s -> weights 10 : 5 : 2.5
  double const r[3] = {0.1, 0.2, 0.4};
  for (std::size_t i = 0; i < 3; ++i)
    set(s, w, i, [&](worker_status& x) { x.last_response_s = r[i]; x.responses = 1; });
  CHECK(s.load(0) == Approx(0.1));
  std::map<std::size_t, int> hits;
  int const n = 70000;
  for (int k = 0; k < n; ++k) ++hits[*s.select(worker_view(w), {})];
  CHECK(hits[0] / double(n) == Approx(10.0 / 17.5).margin(0.01));
  CHECK(hits[1] / double(n) == Approx(5.0 / 17.5).margin(0.01));
  CHECK(hits[2] / double(n) == Approx(2.5 / 17.5).margin(0.01));
  // L = a * R + (1 - a) * L_prev
  set(s, w, 0, [](worker_status& x) { x.last_response_s = 0.6; x.responses = 2; });
  CHECK(s.load(0) == Approx(0.8 * 0.6 + 0.2 * 0.1));
  // same seed, same sequence
  ewma_proportional a{0.8, 5}, b{0.8, 5};
  for (int k = 0; k < 50; ++k) CHECK(a.select(worker_view(w), {}) == b.select(worker_view(w), {}));
}
