// trigger::adaptive with every snapshot strategy (a full snapshot's sampled change rate reaches it
// through the checkpointer) and with the measured checkpoint cost (issue 10 item 7, SPEC R7).
#include <catch2/catch.hpp>
#include <strata/checkpoint/checkpointer.hpp>
#include <strata/comm/solo.hpp>
#include <strata/snapshot/any.hpp>
#include <strata/snapshot/compressed.hpp>
#include <strata/snapshot/full.hpp>
#include <strata/trigger/adaptive.hpp>
#include <support/files.hpp>

using namespace strata;
using namespace std::chrono_literals;

namespace {
/// The adaptive intervals after each checkpoint of a run of `steps` steps in which `change(u, step)`
/// changes the state; the cost is left out (max_overhead = 0: the test's steps take no time).
template <class Snap>
std::vector<std::uint64_t> intervals(Snap snap, std::uint64_t steps, auto change) {
  test::scratch_dir dir{comm::solo{}, "adaptive-full"};
  using ck_t = checkpointer<comm::solo, Snap, storage::posix_dir, consistency::coordinated, trigger::adaptive>;
  typename ck_t::options o;
  o.directory = dir.path();
  o.snapshot = snap;
  o.trigger = {.min_steps = 2, .max_steps = 64, .first_steps = 8, .max_overhead = 0};
  o.retention = {.count = 2};
  o.preemption.signals.clear();
  o.log = nullptr;
  ck_t ck{comm::solo{}, o};
  std::vector<double> u(128 * 1024, 1.0);  // 1 MiB: 16 blocks of 64 KiB
  ck.protect("u", u);
  std::vector<std::uint64_t> out;
  for (std::uint64_t i = 1; i <= steps; ++i) {
    change(u, i);
    if (ck.step(i)) out.push_back(ck.trigger_policy().interval());
  }
  return out;
}
void nothing(std::vector<double>&, std::uint64_t) {}
void everything(std::vector<double>& u, std::uint64_t step) {
  for (std::size_t b = 0; b < u.size(); b += 512) u[b] = static_cast<double>(step);  // every 4 KiB
}
}  // namespace

TEMPLATE_TEST_CASE("adaptive fed by a full snapshot: longer intervals when nothing changes, the minimum when all does",
                   "[trigger][adaptive]", snapshot::full, snapshot::compressed<snapshot::full>, snapshot::any) {
  TestType const snap = [] {
    if constexpr (std::same_as<TestType, snapshot::any>) return snapshot::any{snapshot::full{}};
    else return TestType{};
  }();
  auto const still = intervals(snap, 200, nothing);
  REQUIRE(still.size() >= 3);
  CHECK(still.front() == 4);   // the first checkpoint: all of the state is new
  CHECK(still.back() == 64);   // then nothing changes: up to the maximum, not down to the minimum
  auto const busy = intervals(snap, 200, everything);
  REQUIRE(busy.size() >= 3);
  CHECK(busy.back() == 2);     // everything changes: the minimum
  // Before the sampled estimate, a full snapshot always went the second way.
}

TEST_CASE("adaptive: a full snapshot that does not sample falls back to its bytes, as before", "[trigger][adaptive]") {
  auto const still = intervals(snapshot::full{.sample_every = 0}, 200, nothing);
  REQUIRE(!still.empty());
  CHECK(still.back() == 2);  // the same bytes every time: "all of it changed"
}

TEST_CASE("adaptive: a rising checkpoint cost lengthens the interval", "[trigger][adaptive]") {
  trigger::adaptive t{.min_steps = 1, .max_steps = 1000, .first_steps = 10, .max_overhead = 0.05};
  auto const t0 = trigger::clock::now();
  auto at = t0;
  std::uint64_t step = 0;
  // Steps of 0.1 s; the change rate stays between low and high (no change-driven move).
  auto checkpoint = [&](double cost_seconds) {
    auto const n = t.interval();
    step += n;
    at += std::chrono::duration_cast<trigger::clock::duration>(std::chrono::duration<double>(0.1 * static_cast<double>(n) + cost_seconds));
    REQUIRE(t.due(step, at));
    t.observe_change(0.1);
    t.record({step, at, cost_seconds, 1000});
    return t.interval();
  };
  CHECK(checkpoint(0.01) == 10);  // the first: no interval measured yet
  CHECK(checkpoint(0.01) == 10);  // 0.01 s per 1 s: 1 %, under 5 %
  CHECK(t.overhead() == Approx(0.01));
  CHECK(checkpoint(0.1) == 20);   // 10 %: twice the steps bring it to 5 %
  CHECK(t.overhead() == Approx(0.1));
  CHECK(checkpoint(0.4) == 80);   // 0.4 s per 2 s: the floor is 0.4 / (0.05 * 0.1 s) steps
  CHECK(checkpoint(0.4) == 80);   // at 5 %: it stays
  CHECK(t.overhead() == Approx(0.05));
  CHECK(checkpoint(100.0) == 1000);  // capped by max_steps
  // A fast-changing state does not push the interval below the floor the cost sets.
  t.observe_change(0.9);
  step += 1000;
  at += 100s + 1s;
  t.record({step, at, 1.0, 1000});  // 1 s per 100 s: the floor is 200 steps
  CHECK(t.interval() == 500);       // halved from 1000, above the floor
  step += 500;
  at += 50s + 2s;
  t.observe_change(0.9);
  t.record({step, at, 2.0, 1000});  // 4 %, the floor 400 steps
  CHECK(t.interval() == 400);       // halving would give 250
}

TEST_CASE("adaptive: max_overhead = 0 ignores the cost; bad values are refused", "[trigger][adaptive]") {
  trigger::adaptive t{.min_steps = 1, .max_steps = 1000, .first_steps = 10, .max_overhead = 0};
  auto const t0 = trigger::clock::now();
  t.observe_change(0.1);
  t.record({10, t0, 0.1, 1});
  t.observe_change(0.1);
  t.record({20, t0 + 1s, 0.9, 1});  // 90 % overhead
  CHECK(t.interval() == 10);
  CHECK_NOTHROW(trigger::adaptive{.max_overhead = 0.2}.validate());
  CHECK_THROWS_WITH(trigger::adaptive{.max_overhead = -0.1}.validate(), Catch::Contains("adaptive{.max_overhead = -0.1}"));
  CHECK(trigger::adaptive{.max_overhead = 0.2} != trigger::adaptive{});
}
