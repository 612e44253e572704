#include <catch2/catch.hpp>

#include <strata/balance/policies.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

using namespace strata::balance;

namespace {
// 4 ranks, 32 units of uneven weight, all data 1 KiB; block distribution.
std::vector<work_unit> make_units(int ranks = 4, int n = 32) {
  std::vector<work_unit> u;
  for (int i = 0; i < n; ++i)
    u.push_back({static_cast<std::uint64_t>(100 + i), 1.0 + (i * 7) % 5, i * ranks / n, 1024});
  return u;
}
// Ranks 1 and 2 three times slower.
rank_view slow_view() { return {{1.0, 3.0, 3.0, 1.0}, {}}; }

std::size_t moves(std::vector<work_unit> const& u, assignment const& a) {
  std::size_t m = 0;
  for (std::size_t i = 0; i < u.size(); ++i) m += u[i].owner != a[i];
  return m;
}
}  // namespace

using real_policies = std::tuple<greedy, refine>;

TEMPLATE_LIST_TEST_CASE("balancing policies model the concept and are regular values", "[balance]", real_policies) {
  STATIC_REQUIRE(balance_policy<TestType>);
  TestType a{}, b{};
  CHECK(a == b);
  b.tolerance = 0.2;
  CHECK_FALSE(a == b);
}

TEST_CASE("types that are not policies are rejected by the concept", "[balance]") {
  struct no_plan {
    bool operator==(no_plan const&) const = default;
    std::string_view name() const { return "x"; }
  };
  STATIC_REQUIRE_FALSE(balance_policy<no_plan>);
  STATIC_REQUIRE_FALSE(balance_policy<int>);
  STATIC_REQUIRE(balance_policy<no_balancing>);
}

TEMPLATE_LIST_TEST_CASE("policies bring slowed ranks within tolerance", "[balance]", real_policies) {
  auto units = make_units();
  auto const ranks = slow_view();
  double const before = imbalance(predicted_loads(units, owners_of(units), ranks));
  REQUIRE(before > 0.4);

  TestType policy{};
  policy.tolerance = 0.05;
  auto const a = policy.plan(units, ranks);
  REQUIRE(a.size() == units.size());
  double const after = imbalance(predicted_loads(units, a, ranks));
  CHECK(after <= 0.05 + 1e-12);
  CHECK(after < before);
  // Slow ranks end with less weight than fast ones.
  auto w = [&](int r) {
    double s = 0;
    for (std::size_t i = 0; i < units.size(); ++i) s += a[i] == r ? units[i].weight : 0.0;
    return s;
  };
  CHECK(w(1) < w(0));
  CHECK(w(2) < w(3));
  CHECK_NOTHROW(check_assignment(units, a, ranks));
}

TEMPLATE_LIST_TEST_CASE("a balanced assignment is left alone", "[balance]", real_policies) {
  auto units = make_units();
  for (auto& u : units) u.weight = 2.0;  // 8 equal units per rank
  TestType policy{};
  auto const a = policy.plan(units, rank_view::uniform(4));
  CHECK(a == owners_of(units));
}

TEST_CASE("refine moves fewer units than greedy", "[balance]") {
  auto units = make_units();
  auto const g = greedy{}.plan(units, slow_view());
  auto const r = refine{}.plan(units, slow_view());
  CHECK(moves(units, r) < moves(units, g));
  CHECK(moves(units, r) > 0);
}

TEMPLATE_LIST_TEST_CASE("the migration budget caps the units moved in one step", "[balance]", real_policies) {
  auto units = make_units();
  TestType policy{};
  policy.migration_budget = 2;
  auto const a = policy.plan(units, slow_view());
  CHECK(moves(units, a) <= 2);
  CHECK(moves(units, a) >= 1);
  // Applying the budgeted plan repeatedly converges.
  for (int step = 0; step < 20; ++step) {
    auto const next = policy.plan(units, slow_view());
    for (std::size_t i = 0; i < units.size(); ++i) units[i].owner = next[i];
  }
  CHECK(imbalance(predicted_loads(units, owners_of(units), slow_view())) <= policy.tolerance + 0.15);
}

TEMPLATE_LIST_TEST_CASE("policies never exceed a rank's memory limit", "[balance]", real_policies) {
  auto units = make_units();
  // The fast ranks can hold at most 9 units each: the ideal balance is out of reach.
  rank_view ranks = slow_view();
  ranks.memory_limit = {9 * 1024, 16 * 1024, 16 * 1024, 9 * 1024};
  auto const a = TestType{}.plan(units, ranks);
  CHECK_NOTHROW(check_assignment(units, a, ranks));
  auto const held = bytes_per_rank(units, a, 4);
  CHECK(held[0] <= 9 * 1024);
  CHECK(held[3] <= 9 * 1024);
  CHECK(imbalance(predicted_loads(units, a, ranks)) < imbalance(predicted_loads(units, owners_of(units), ranks)));
}

TEMPLATE_LIST_TEST_CASE("policies refuse when the units fit in no rank's memory", "[balance]", real_policies) {
  auto units = make_units();
  rank_view ranks = slow_view();
  ranks.memory_limit.assign(4, 4 * 1024);  // 16 KiB in all for 32 KiB of units
  REQUIRE_THROWS_AS(TestType{}.plan(units, ranks), assignment_error);
  try {
    (void)TestType{}.plan(units, ranks);
  } catch (assignment_error const& e) {
    std::string const what = e.what();
    CHECK_THAT(what, Catch::Contains("fits on no rank"));
    CHECK_THAT(what, Catch::Contains("unit 1"));
  }
}

TEST_CASE("check_assignment refuses an assignment over a memory limit, naming the rank", "[balance]") {
  auto units = make_units();
  rank_view ranks = rank_view::uniform(4);
  ranks.memory_limit.assign(4, 8 * 1024);
  CHECK_NOTHROW(check_assignment(units, owners_of(units), ranks));
  assignment all_on_two(units.size(), 2);
  REQUIRE_THROWS_WITH(check_assignment(units, all_on_two, ranks),
                      Catch::Contains("rank 2 would hold 32768 bytes") && Catch::Contains("8192"));
  assignment bad_rank(units.size(), 0);
  bad_rank[3] = 7;
  REQUIRE_THROWS_WITH(check_assignment(units, bad_rank, ranks), Catch::Contains("rank 7"));
}

TEST_CASE("imbalance and predicted loads", "[balance]") {
  std::vector<double> loads{1.0, 1.0, 2.0, 0.0};
  CHECK(imbalance(loads) == Approx(1.0));
  CHECK(imbalance(std::vector<double>{}) == 0.0);
  std::vector<work_unit> u{{1, 2.0, 0, 8}, {2, 3.0, 1, 8}};
  auto const l = predicted_loads(u, {0, 1}, rank_view{{0.5, 2.0}, {}});
  CHECK(l[0] == Approx(1.0));
  CHECK(l[1] == Approx(6.0));
  CHECK(local_weight(u, 1) == 3.0);
}

TEST_CASE("greedy places the heaviest unit on the fastest rank first", "[balance]") {
  std::vector<work_unit> u{{1, 1.0, 0, 0}, {2, 10.0, 0, 0}, {3, 1.0, 0, 0}};
  auto const a = greedy{}.plan(u, rank_view{{2.0, 1.0}, {}});
  CHECK(a[1] == 1);
  CHECK(a[0] == 0);
  CHECK(a[2] == 0);
}
