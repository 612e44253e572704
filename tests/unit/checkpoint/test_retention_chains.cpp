// retention: versions that kept versions depend on are never retired.
#include <catch2/catch.hpp>
#include <strata/checkpoint/retention.hpp>

using namespace strata;

TEST_CASE("keep_last keeps the chain of every kept version", "[retention]") {
  STATIC_REQUIRE(retention::dependency_aware<retention::keep_last<>>);
  std::vector<std::uint64_t> committed{1, 2, 3, 4, 5, 6, 7};
  retention::dependency_map deps{{1, {}}, {2, {1}}, {3, {1, 2}}, {4, {}}, {5, {4}}, {6, {4, 5}}, {7, {}}};
  retention::keep_last<2> keep;
  CHECK(keep.retire(committed) == std::vector<std::uint64_t>{1, 2, 3, 4, 5});
  CHECK(keep.retire(committed, deps) == std::vector<std::uint64_t>{1, 2, 3});  // 6 needs 4 and 5
  retention::keep_last<1> one;
  CHECK(one.retire(committed, deps) == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6});
  // The safety net the checkpointer applies to any policy.
  CHECK(retention::protect_dependencies(committed, {1, 2, 3, 4, 5, 6}, deps) == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6});
  CHECK(retention::protect_dependencies(committed, {1, 2, 4}, deps) == std::vector<std::uint64_t>{});
}
