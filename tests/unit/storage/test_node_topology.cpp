// storage::detail::node_topology: node_local's partners (L2) and erasure groups (L3), planned without MPI.
#include <catch2/catch.hpp>
#include <strata/storage/detail/node_topology.hpp>

using namespace strata::storage::detail;

namespace {
/// Three nodes of two ranks each: {0, 1} on a, {2, 3} on b, {4, 5} on c.
node_topology three_nodes(int rank) {
  return {rank, std::string(1, "aabbcc"[rank]), {0, 0, 2, 2, 4, 4}, {"a", "a", "b", "b", "c", "c"}};
}
}  // namespace

TEST_CASE("plan_partners: the rank with the same index on the next node keeps the copy", "[storage][node_local]") {
  auto const p = plan_partners(three_nodes(0));
  REQUIRE(p.refused.empty());
  CHECK(p.partner == std::vector<int>{2, 3, 4, 5, 0, 1});
  CHECK(p.wards == std::vector<int>{4});
  CHECK(plan_partners(three_nodes(3)).wards == std::vector<int>{1});

  node_topology const one{1, "a", {0, 0, 0}, {"a", "a", "a"}};
  auto const refused = plan_partners(one);
  CHECK_THAT(refused.refused, Catch::StartsWith("rank 1 on a: partner copies need ranks on at least two nodes"));
  CHECK(refused.partner.empty());
}

TEST_CASE("plan_groups: groups of ranks on distinct nodes, or a refusal that says why", "[storage][node_local]") {
  auto const g = plan_groups(three_nodes(3), "xor_group", 1, 0);
  REQUIRE(g.refused.empty());
  CHECK(g.ranks == std::vector<int>{1, 3, 5});  // ordered by (index within node, node)
  CHECK(g.id == 1);
  CHECK(g.member == 1);
  CHECK(g.parity_chunks == 1);
  CHECK(plan_groups(three_nodes(4), "reed_solomon", 2, 3).ranks == std::vector<int>{0, 2, 4});

  CHECK_THAT(plan_groups(three_nodes(0), "reed_solomon", 3, 0).refused,
             Catch::StartsWith("rank 0 on a: node_local reed_solomon redundancy needs ranks on at least 4 nodes"));
  CHECK_THAT(plan_groups(three_nodes(0), "xor_group", 1, 4).refused,
             Catch::Contains("group_size 4 needs ranks on at least 4 nodes"));
  CHECK_THAT(plan_groups(three_nodes(0), "reed_solomon", 0, 0).refused, Catch::Contains("parity must be at least 1"));
  node_topology const uneven{0, "a", {0, 0, 0, 3}, {"a", "a", "a", "b"}};
  CHECK_THAT(plan_groups(uneven, "xor_group", 1, 2).refused, Catch::Contains("must be on distinct nodes"));
}
