// detail::fault: the STRATA_FAULT parser, apart from any layer.
#include <catch2/catch.hpp>
#include <strata/checkpoint/fault_points.hpp>
#include <strata/consistency/fault_points.hpp>
#include <strata/detail/fault.hpp>
#include <strata/storage/fault_points.hpp>

using strata::fault::trigger;

TEST_CASE("fault::trigger parses <phase>@<rank>[:<version>[+]]", "[detail][fault]") {
  auto const any = trigger::parse("after_shard@2");
  REQUIRE(any);
  CHECK(any->phase == "after_shard");
  CHECK(any->rank == 2);
  CHECK_FALSE(any->version);
  CHECK(any->fires_at("after_shard", 2, 1));
  CHECK(any->fires_at("after_shard", 2, 9));
  CHECK_FALSE(any->fires_at("after_shard", 1, 1));
  CHECK_FALSE(any->fires_at("before_commit", 2, 1));

  auto const exact = trigger::parse("writing_shard@0:3");
  REQUIRE(exact);
  CHECK(exact->version == 3u);
  CHECK_FALSE(exact->or_later);
  CHECK(exact->fires_at("writing_shard", 0, 3));
  CHECK_FALSE(exact->fires_at("writing_shard", 0, 4));

  auto const later = trigger::parse("writer_staged@1:3+");
  REQUIRE(later);
  CHECK(later->or_later);
  CHECK_FALSE(later->fires_at("writer_staged", 1, 2));
  CHECK(later->fires_at("writer_staged", 1, 3));
  CHECK(later->fires_at("writer_staged", 1, 7));

  CHECK_FALSE(trigger::parse("after_commit"));  // no rank: no trigger
  CHECK_THROWS(trigger::parse("after_commit@x"));
}

TEST_CASE("fault points keep the names the shell fault tests use", "[detail][fault]") {
  CHECK(strata::storage::fault_points::writing_shard == "writing_shard");
  CHECK(strata::storage::fault_points::sending_partner == "sending_partner");
  CHECK(strata::consistency::fault_points::after_shard == "after_shard");
  CHECK(strata::consistency::fault_points::before_commit == "before_commit");
  CHECK(strata::consistency::fault_points::after_commit == "after_commit");
  CHECK(strata::checkpoint::fault_points::writer_staged == "writer_staged");
}
