// snapshot::incremental writes a full base instead of a delta that would be nearly as large as the
// state (`rebase_fraction`, issue 10 item 8), and keeps writing deltas for sparse updates.
#include <catch2/catch.hpp>
#include <strata/snapshot/any.hpp>
#include <strata/snapshot/compressed.hpp>
#include <strata/snapshot/incremental.hpp>

#include <cstring>
#include <numeric>

using namespace strata;
using inc_t = snapshot::incremental<1024>;

namespace {
std::vector<std::byte> flat(snapshot::encoded_shard const& s) {
  std::vector<std::byte> out;
  for (auto seg : s.segments) out.insert(out.end(), seg.begin(), seg.end());
  return out;
}
snapshot::shard_id sid(std::uint64_t v, std::uint32_t ranks = 1) { return {v, 0, ranks}; }

/// 20 blocks of 1 KiB; `touch(n)` changes the first n blocks.
struct field_state {
  std::vector<double> u = std::vector<double>(128 * 20, 0.0);
  void touch(std::size_t blocks, double value) {
    for (std::size_t b = 0; b < blocks; ++b) u[b * 128 + 3] = value;
  }
  [[nodiscard]] std::uint64_t bytes() const { return u.size() * sizeof(double); }
};

std::vector<double> decode_alone(std::vector<std::byte> const& shard, snapshot::shard_id id) {
  inc_t r;
  auto regions = r.decode(shard, id, "test");
  REQUIRE(regions.size() == 1);
  std::vector<double> out(regions[0].payload.size() / sizeof(double));
  std::memcpy(out.data(), regions[0].payload.data(), regions[0].payload.size());
  return out;
}
}  // namespace

TEST_CASE("incremental: every block dirty at every version, every version a self-contained base", "[snapshot][rebase]") {
  STATIC_REQUIRE(snapshot::rebasing<inc_t>);
  field_state s;
  state::registry reg;
  reg.protect("u", s.u);
  inc_t inc{.max_chain = 8};
  CHECK(inc.rebase_fraction == 0.5);  // the documented default
  for (std::uint64_t v = 1; v <= 10; ++v) {
    s.touch(20, static_cast<double>(v));
    auto shard = flat(inc.encode(reg, sid(v)));
    inc.committed(v);
    INFO("version " << v);
    CHECK(inc.depends_on().empty());
    CHECK(inc.last_stored_bytes() == s.bytes());
    CHECK(inc.last_dirty_bytes() == s.bytes());  // the change rate: all of it, every time
    CHECK(decode_alone(shard, sid(v)) == s.u);        // needs no older version
  }
}

TEST_CASE("incremental: sparse updates still write deltas, up to the threshold", "[snapshot][rebase]") {
  field_state s;
  state::registry reg;
  reg.protect("u", s.u);
  inc_t inc{.max_chain = 8};
  (void)inc.encode(reg, sid(1));
  inc.committed(1);
  s.touch(1, 1.0);  // 1 block of 20: 5 %
  (void)inc.encode(reg, sid(2));
  inc.committed(2);
  CHECK(inc.depends_on() == std::vector<std::uint64_t>{1});
  CHECK(inc.last_stored_bytes() == 1024);
  s.touch(9, 2.0);  // 9 of 20: 45 %, under one half
  (void)inc.encode(reg, sid(3));
  inc.committed(3);
  CHECK(inc.depends_on() == std::vector<std::uint64_t>{1, 2});
  CHECK(inc.last_stored_bytes() == 9 * 1024);
  s.touch(10, 3.0);  // 10 of 20: one half, a base
  (void)inc.encode(reg, sid(4));
  inc.committed(4);
  CHECK(inc.depends_on().empty());
  CHECK(inc.last_dirty_bytes() == 10 * 1024);
  CHECK(inc.last_stored_bytes() == s.bytes());
  s.touch(1, 4.0);  // and deltas again on the new base
  (void)inc.encode(reg, sid(5));
  CHECK(inc.depends_on() == std::vector<std::uint64_t>{4});

  SECTION("rebase_fraction = 1: a base only when every block changed") {
    inc_t all{.max_chain = 8, .rebase_fraction = 1.0};
    (void)all.encode(reg, sid(1));
    s.touch(19, 5.0);
    (void)all.encode(reg, sid(2));
    CHECK(all.depends_on() == std::vector<std::uint64_t>{1});
    s.touch(20, 6.0);
    (void)all.encode(reg, sid(3));
    CHECK(all.depends_on().empty());
  }
  SECTION("rebase_fraction above 1: deltas whatever their size") {
    inc_t never{.max_chain = 8, .rebase_fraction = 2.0};
    (void)never.encode(reg, sid(1));
    s.touch(20, 7.0);
    (void)never.encode(reg, sid(2));
    CHECK(never.depends_on() == std::vector<std::uint64_t>{1});
    CHECK(never.last_stored_bytes() == s.bytes());
  }
}

TEST_CASE("incremental: on several ranks the ranks agree on a base (wants_base), never decide alone",
          "[snapshot][rebase]") {
  field_state s;
  state::registry reg;
  reg.protect("u", s.u);
  inc_t inc{.max_chain = 8};
  (void)inc.encode(reg, sid(1, 2));
  inc.committed(1);
  s.touch(20, 1.0);
  SECTION("not asked: a delta, as on the other ranks (the manifest records one chain)") {
    (void)inc.encode(reg, sid(2, 2));
    CHECK(inc.depends_on() == std::vector<std::uint64_t>{1});
  }
  SECTION("asked: this rank wants a base; the checkpointer then resets every rank") {
    CHECK(inc.wants_base(reg));
    inc.reset();
    auto shard = flat(inc.encode(reg, sid(2, 2)));
    CHECK(inc.depends_on().empty());
    CHECK(decode_alone(shard, sid(2, 2)) == s.u);
  }
  SECTION("asked, sparse here but another rank wanted a base: the reset makes this one a base too") {
    inc_t sparse{.max_chain = 8};
    (void)sparse.encode(reg, sid(1, 2));
    sparse.committed(1);
    s.touch(1, 3.0);
    CHECK_FALSE(sparse.wants_base(reg));  // 1 block of 20
    sparse.reset();
    (void)sparse.encode(reg, sid(2, 2));
    CHECK(sparse.depends_on().empty());
    CHECK(sparse.last_stored_bytes() == s.bytes());
  }
  SECTION("asked, nobody wanted one: the delta as planned") {
    inc_t sparse{.max_chain = 8};
    (void)sparse.encode(reg, sid(1, 2));
    sparse.committed(1);
    s.touch(2, 4.0);
    CHECK_FALSE(sparse.wants_base(reg));
    (void)sparse.encode(reg, sid(2, 2));
    CHECK(sparse.depends_on() == std::vector<std::uint64_t>{1});
    CHECK(sparse.last_stored_bytes() == 2 * 1024);
  }
}

TEST_CASE("incremental: rebase_fraction reaches compressed and any, and is validated", "[snapshot][rebase]") {
  field_state s;
  state::registry reg;
  reg.protect("u", s.u);
  using comp = snapshot::compressed<inc_t>;
  STATIC_REQUIRE(snapshot::rebasing<comp>);
  STATIC_REQUIRE_FALSE(snapshot::rebasing<snapshot::compressed<snapshot::full>>);
  STATIC_REQUIRE_FALSE(snapshot::rebasing<snapshot::full>);
  comp c{};
  (void)c.encode(reg, sid(1));
  c.committed(1);
  s.touch(20, 1.0);
  CHECK(c.wants_base(reg));
  (void)c.encode(reg, sid(2));
  CHECK(c.depends_on().empty());

  snapshot::any a = inc_t{};
  CHECK(snapshot::asks_base(a));
  CHECK_FALSE(snapshot::asks_base(snapshot::any{snapshot::full{}}));
  CHECK_FALSE(snapshot::any{snapshot::full{}}.wants_base(reg));
  CHECK(snapshot::asks_base(inc_t{}));
  CHECK_FALSE(snapshot::asks_base(snapshot::full{}));

  CHECK_NOTHROW(inc_t{.rebase_fraction = 1.0}.validate());
  CHECK_NOTHROW(inc_t{.rebase_fraction = 2.0}.validate());
  CHECK_THROWS_WITH(inc_t{.rebase_fraction = 0.0}.validate(), Catch::Contains("incremental{.rebase_fraction = 0}"));
  CHECK_THROWS_WITH(inc_t{.rebase_fraction = -1}.validate(), Catch::Contains("must be above 0"));
  CHECK(inc_t{.rebase_fraction = 0.3} != inc_t{});
}
