// The N→M restore plan as a value (no I/O, no MPI): which ranges of which old ranks this rank reads.
#include <catch2/catch.hpp>
#include <strata/checkpoint/detail/resize_plan.hpp>

using namespace strata;
using namespace strata::checkpoint::detail;

namespace {
state::region_info f64(std::string name, std::uint64_t count) {
  return {name, state::region_kind::host_range, "f64", 8, count, true};
}
/// An old rank that saved elements [first, first + count) of 100 with `halo` elements each side, and a step.
saved_shard old_rank(std::uint64_t first, std::uint64_t count, std::uint64_t halo = 2) {
  auto const field = f64("u", count + 2 * halo);
  return {{field, distributed{.global_offset = first, .global_size = 100, .local_offset = halo, .local_count = count}, field.bytes()},
          {f64("step", 1), replicated{}, 8}};
}
std::vector<wanted_region> now(std::uint64_t first, std::uint64_t count, std::uint64_t halo = 1) {
  return {{f64("u", count + 2 * halo), distributed{.global_offset = first, .global_size = 100, .local_offset = halo, .local_count = count}},
          {f64("step", 1), replicated{}}};
}
}  // namespace

TEST_CASE("resize plan: the overlapping old ranges, in bytes, and the replicated region from a rank read anyway",
          "[checkpoint][resize]") {
  std::vector<saved_shard> const old{old_rank(0, 30), old_rank(30, 30), old_rank(60, 40)};
  SECTION("a block inside one old block reads only that one") {
    auto const p = plan_resize(old, now(35, 20), 7);
    REQUIRE(p.fetches.size() == 2);
    CHECK(p.fetches[0] == fetch{1, "u", (2 + 5) * 8, 20 * 8, false, f64("u", 34), 1});
    CHECK(p.fetches[1] == fetch{1, "step", 0, 8, true, f64("step", 1), 0});  // not old rank 0: it reads old rank 1 anyway
    CHECK(p.sources() == std::vector<int>{1});
    CHECK(p.bytes() == 20 * 8 + 8);
  }
  SECTION("a block across three old blocks") {
    auto const p = plan_resize(old, now(20, 50), 7);
    REQUIRE(p.fetches.size() == 4);
    CHECK(p.fetches[0] == fetch{0, "u", (2 + 20) * 8, 10 * 8, false, f64("u", 34), 1});
    CHECK(p.fetches[1] == fetch{1, "u", 2 * 8, 30 * 8, false, f64("u", 34), 11});
    CHECK(p.fetches[2] == fetch{2, "u", 2 * 8, 10 * 8, false, f64("u", 44), 41});
    CHECK(p.fetches[3].from == 0);
    CHECK(p.sources() == std::vector<int>{0, 1, 2});
  }
  SECTION("an empty block reads the replicated region from old rank 0") {
    auto const p = plan_resize(old, now(100, 0), 7);
    REQUIRE(p.fetches.size() == 1);
    CHECK(p.fetches[0].from == 0);
    CHECK(p.fetches[0].whole);
  }
}

TEST_CASE("resize plan: refused with the region named when it cannot work", "[checkpoint][resize]") {
  std::vector<saved_shard> old{old_rank(0, 50), old_rank(50, 50)};
  SECTION("another element type") {
    auto w = now(0, 10);
    w[0].info.type = "f32";
    w[0].info.elem_size = 4;
    CHECK_THROWS_WITH(plan_resize(old, w, 3), Catch::Contains("cannot restore region 'u': saved with element type 'f64'"));
  }
  SECTION("another global size") {
    auto w = now(0, 10);
    w[0].layout.block.global_size = 101;
    CHECK_THROWS_WITH(plan_resize(old, w, 3), Catch::Contains("region 'u': saved with global size 100, declared now with 101"));
  }
  SECTION("a per-rank region") {
    auto w = now(0, 10);
    w[1].layout = state::layout{};
    CHECK_THROWS_WITH(plan_resize(old, w, 3), Catch::Contains("region 'step' is per-rank state"));
  }
  SECTION("saved replicated, protected distributed") {
    auto w = now(0, 10);
    w[1].layout = distributed{.global_offset = 0, .global_size = 1, .local_offset = 0, .local_count = 1};
    CHECK_THROWS_WITH(plan_resize(old, w, 3), Catch::Contains("region 'step' was saved as replicated and is protected now as distributed"));
  }
  SECTION("not saved by an old rank") {
    old[1].pop_back();
    CHECK_NOTHROW(plan_resize(old, now(40, 20), 3));  // the step is read from old rank 0
    CHECK_THROWS_WITH(plan_resize(old, now(60, 20), 3), Catch::Contains("protected region 'step' is not in version 3 of old rank 1"));
  }
  SECTION("old blocks that leave a gap") {
    old[1] = old_rank(60, 40);
    CHECK_THROWS_WITH(plan_resize(old, now(40, 30), 3), Catch::Contains("cover 20 of the 30 elements [40, 70)"));
  }
}
