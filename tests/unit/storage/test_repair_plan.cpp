// storage::detail::repair_plan: which source serves each rank of node_local at restart, without MPI.
#include <catch2/catch.hpp>
#include <strata/storage/detail/repair_plan.hpp>

using namespace strata::storage::detail;

TEST_CASE("repair: own shards on other nodes first, then partner copies, round by round", "[storage][node_local]") {
  std::vector<std::uint64_t> const node_of{0, 0, 2, 2};
  inventory inv;
  inv.leaders = {0, 2};
  inv.items[{5, file_kind::own, 1}] = {0, 2};      // rank 1's shard on its old node (2) and its own (0)
  inv.items[{5, file_kind::partner, 1}] = {2};     // and a partner copy
  inv.items[{5, file_kind::partner, 3}] = {0};
  auto const src = repair_sources(inv, 5, 1, node_of);
  REQUIRE(src.size() == 2);
  CHECK(src[0] == std::pair{2, file_kind::own});  // not its own node's copy: that one is what failed
  CHECK(src[1] == std::pair{2, file_kind::partner});

  std::vector<std::uint64_t> const here{1, 0, 1, 0};
  auto const r0 = plan_repair_round(inv, 5, here, node_of, 0);
  REQUIRE(r0.plan.size() == 2);
  CHECK((r0.plan[0].from == 2 && r0.plan[0].to == 1));
  CHECK(r0.what[0] == file_kind::own);
  CHECK((r0.plan[1].from == 0 && r0.plan[1].to == 3));
  CHECK(r0.what[1] == file_kind::partner);
  auto const r1 = plan_repair_round(inv, 5, here, node_of, 1);
  REQUIRE(r1.plan.size() == 1);
  CHECK(r1.what[0] == file_kind::partner);
  CHECK(plan_repair_round(inv, 5, here, node_of, 2).plan.empty());
}

TEST_CASE("repair: an L3 rebuild takes k surviving chunks per stripe, or says why it cannot", "[storage][node_local]") {
  // Group {0, 1, 2} (xor, m = 1, k = 2); every member's parity file is intact, held by its own node.
  std::vector<std::uint64_t> facts;
  for (int r = 0; r < 3; ++r) {
    parity_check c;
    c.header = parity_header{};
    c.header->code = 1, c.header->group = 0, c.header->g = 3, c.header->m = 1, c.header->member = static_cast<std::uint64_t>(r);
    c.header->chunk = 64, c.header->ranks = {0, 1, 2};
    c.chunk_ok = {1};
    append_parity_fact(facts, r, r, c);
  }
  append_parity_fact(facts, 2, 2, parity_check{{}, {}, "damaged"});  // an unusable file counts for nothing
  auto const groups = parity_groups(facts);
  REQUIRE(groups.size() == 1);
  CHECK(groups[0].source == std::vector<std::vector<int>>{{0}, {1}, {2}});
  CHECK(group_of(groups, 1) == 0);
  CHECK(group_of(groups, 7) == 1);

  auto const one = plan_parity_rebuild(groups, {1, 0, 1});
  REQUIRE(one.refused.empty());
  CHECK(one.plan.size() == 4);  // rank 1 has data in 2 of the 3 stripes, k = 2 chunks each
  for (auto const& t : one.plan) CHECK(t.to == 1);
  CHECK(one.label == std::vector<std::string>{"", "L3 xor group 0", ""});

  CHECK_THAT(plan_parity_rebuild(groups, {1, 0, 0}).refused,
             Catch::Contains("xor group 0 lost 2 of its 3 members (ranks 1, 2), more than the 1"));
  CHECK_THAT(plan_parity_rebuild(groups, {1, 1, 1, 0}).refused, Catch::Contains("rank 3 cannot be rebuilt from parity"));
}
