#include <catch2/catch.hpp>

#include <strata/elastic/policy.hpp>
#include <strata/elastic/relaunch.hpp>
#include <strata/elastic/topology.hpp>

#include <filesystem>
#include <vector>

using namespace strata::elastic;

namespace {
// Feeds one sample every `dt` seconds from t0 for `duration` seconds; returns the first non-none decision.
template <class M>
scale_decision feed(M& mon, double t0, double duration, double dt, double p99, double util, int ranks, double* at = nullptr) {
  for (double t = t0; t <= t0 + duration + 1e-9; t += dt) {
    auto d = mon.observe({t, p99, util}, ranks);
    if (d.action != scale_action::none) {
      if (at) *at = t;
      return d;
    }
  }
  return {};
}
}  // namespace

TEST_CASE("threshold rules default to SPEC S8", "[elastic]") {
  STATIC_REQUIRE(scaling_policy<threshold_rules>);
  threshold_rules r;
  CHECK(r.up_p99_ms == 200.0);
  CHECK(r.up_utilisation == 0.80);
  CHECK(r.up_hold_s == 300.0);
  CHECK(r.down_utilisation == 0.60);
  CHECK(r.down_hold_s == 600.0);
  CHECK(r == threshold_rules{});
}

TEST_CASE("scale up only after p99 > 200 ms and utilisation > 80 % held for 5 minutes", "[elastic]") {
  monitor<> mon;
  double at = -1;
  auto d = feed(mon, 0, 600, 10, 250, 0.9, 4, &at);
  REQUIRE(d.action == scale_action::scale_up);
  CHECK(at == Approx(300));
  CHECK(d.target_ranks == 8);
  CHECK_THAT(d.reason, Catch::Contains("p99 latency > 200 ms"));
}

TEST_CASE("a break in the condition restarts the hold time", "[elastic]") {
  monitor<> mon;
  CHECK(feed(mon, 0, 290, 10, 250, 0.9, 4).action == scale_action::none);
  CHECK(mon.observe({300, 150, 0.9}, 4).action == scale_action::none);  // latency fine for a moment
  double at = -1;
  auto d = feed(mon, 310, 600, 10, 250, 0.9, 4, &at);
  REQUIRE(d.action == scale_action::scale_up);
  CHECK(at == Approx(610));
}

TEST_CASE("high latency alone, or high utilisation alone, does not scale up", "[elastic]") {
  monitor<> m1, m2;
  CHECK(feed(m1, 0, 1200, 10, 500, 0.75, 4).action == scale_action::none);
  CHECK(feed(m2, 0, 1200, 10, 100, 0.95, 4).action == scale_action::none);
}

TEST_CASE("scale down after utilisation < 60 % for 10 minutes, not before", "[elastic]") {
  monitor<> mon;
  double at = -1;
  auto d = feed(mon, 0, 1200, 30, 50, 0.3, 8, &at);
  REQUIRE(d.action == scale_action::scale_down);
  CHECK(at == Approx(600));
  CHECK(d.target_ranks == 4);
  // After a decision the history restarts.
  CHECK(mon.samples() == 0);
}

TEST_CASE("rank bounds: no scale-down below min_ranks, no scale-up above max_ranks", "[elastic]") {
  threshold_rules r;
  r.min_ranks = 2;
  r.max_ranks = 4;
  monitor<threshold_rules> mon{r};
  CHECK(feed(mon, 0, 1200, 30, 50, 0.3, 2).action == scale_action::none);
  monitor<threshold_rules> hot{r};
  CHECK(feed(hot, 0, 1200, 30, 500, 0.95, 4).action == scale_action::none);
  monitor<threshold_rules> hot3{r};
  auto d = feed(hot3, 0, 1200, 30, 500, 0.95, 3);
  CHECK(d.action == scale_action::scale_up);
  CHECK(d.target_ranks == 4);
}

TEST_CASE("samples going back in time are refused", "[elastic]") {
  monitor<> mon;
  mon.observe({100, 0, 0.5}, 4);
  REQUIRE_THROWS_WITH(mon.observe({50, 0, 0.5}, 4), Catch::Contains("older than the previous one"));
}

TEST_CASE("relaunch request round trip and exit status", "[elastic]") {
  STATIC_REQUIRE(relaunch_exit_status == 75);
  auto const dir = std::filesystem::temp_directory_path() / "strata_elastic_test";
  std::filesystem::create_directories(dir);
  auto const path = dir / "relaunch.json";
  scale_decision const d{scale_action::scale_down, 2, "quiet"};
  write_relaunch_request(path, d, 4);
  auto const r = read_relaunch_request(path);
  CHECK(r == relaunch_request{scale_action::scale_down, 4, 2, "quiet"});
  REQUIRE_THROWS_WITH(write_relaunch_request(path, scale_decision{}, 4), Catch::Contains("nothing to relaunch"));
  REQUIRE_THROWS_WITH(read_relaunch_request(dir / "missing.json"), Catch::Contains("missing.json"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("topology groups ranks by node and picks partners on another node", "[elastic]") {
  topology t{{7, 7, 3, 3, 3, 9}, {"cpu", "cpu", "gpu", "gpu", "gpu", "cpu"}};
  CHECK(t.size() == 6);
  CHECK(t.node_count() == 3);
  CHECK(t.node_of(0) == 0);
  CHECK(t.node_of(2) == 1);
  CHECK(t.node_of(5) == 2);
  CHECK(t.ranks_on_node(1) == std::vector<int>{2, 3, 4});
  CHECK(t.same_node(2, 4));
  CHECK_FALSE(t.same_node(1, 2));
  CHECK(t.kind_of(3) == "gpu");
  for (int r = 0; r < t.size(); ++r) CHECK_FALSE(t.same_node(r, t.partner_of(r)));
  topology one{{0, 0, 0}};
  CHECK(one.partner_of(2) == 0);
  CHECK(one.kind_of(1) == "cpu");
  REQUIRE_THROWS_WITH((topology{{0, 1}, {"cpu"}}), Catch::Contains("1 device kinds for 2 ranks"));
}
