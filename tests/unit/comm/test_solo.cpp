#include <catch2/catch.hpp>
#include <strata/comm/agree.hpp>
#include <strata/comm/solo.hpp>

using namespace strata;

TEST_CASE("comm::solo behaves as a one-rank communicator", "[comm]") {
  STATIC_REQUIRE(comm::communicator<comm::solo>);
  STATIC_REQUIRE(comm::point_to_point_communicator<comm::solo>);
  comm::solo c;
  CHECK(c.rank() == 0);
  CHECK(c.size() == 1);
  CHECK(c.all_reduce(std::uint64_t{7}, comm::reduce_op::sum) == 7);
  CHECK(c.all_gather(std::uint64_t{5}) == std::vector<std::uint64_t>{5});

  std::vector<std::byte> msg{std::byte{1}, std::byte{2}}, got;
  c.send(msg, 0, 3);
  auto info = c.probe(comm::any_source, 3);
  REQUIRE(info);
  CHECK(info->bytes == 2);
  CHECK(c.recv(got, 0, 3).tag == 3);
  CHECK(got == msg);
  CHECK_FALSE(c.probe(0, 3));
  REQUIRE_THROWS_AS(c.recv(got, 0, 3), comm_error);
  REQUIRE_THROWS_WITH(c.send(msg, 1, 0), Catch::Contains("rank 1 does not exist"));
}

TEST_CASE("agree reports the worst vote and its reason", "[comm]") {
  comm::solo c;
  CHECK(static_cast<bool>(comm::agree(c, 0, "")));
  auto a = comm::agree(c, 2, "disk full");
  CHECK_FALSE(static_cast<bool>(a));
  CHECK(a.code == 2);
  CHECK(a.rank == 0);
  CHECK(a.reason == "disk full");
}
