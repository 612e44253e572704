// The index at the front of a shard (format 2): read from the front alone, it finds and checks any
// block; shards of format 1 (written before the index) still decode.
#include <catch2/catch.hpp>
#include <strata/snapshot/compressed.hpp>
#include <strata/snapshot/full.hpp>
#include <strata/snapshot/incremental.hpp>

#include <numeric>

using namespace strata;

namespace {
std::vector<std::byte> flat(snapshot::encoded_shard const& s) {
  std::vector<std::byte> out;
  for (auto seg : s.segments) out.insert(out.end(), seg.begin(), seg.end());
  return out;
}
snapshot::shard_id sid(std::uint64_t v) { return {v, 0, 1}; }
std::span<const std::byte> section(std::vector<std::byte> const& shard, snapshot::shard_section const& s) {
  return std::span<const std::byte>(shard).subspan(static_cast<std::size_t>(s.offset), static_cast<std::size_t>(s.bytes));
}

/// A format-1 shard of `snapshot::full` holding one f64 range, written the way it was before the index.
std::vector<std::byte> full_format1(std::vector<double> const& v) {
  std::vector<std::byte> out;
  byte_writer w{out};
  auto str = [&](std::string const& s) {
    w.value(static_cast<std::uint32_t>(s.size()));
    w.bytes(std::as_bytes(std::span(s.data(), s.size())));
  };
  w.bytes(std::as_bytes(std::span("STRATASH", 8)));
  w.value(std::uint32_t{1});
  w.value(std::uint32_t{1});
  w.value(std::uint64_t{1});
  w.value(std::uint32_t{0});
  w.value(std::uint32_t{1});
  str("full");
  str("u");
  w.value(static_cast<std::uint32_t>(state::region_kind::host_range));
  str("f64");
  w.value(std::uint64_t{8});
  w.value(static_cast<std::uint64_t>(v.size()));
  w.value(static_cast<std::uint64_t>(v.size() * 8));
  w.value(std::uint8_t{1});
  out.resize((out.size() + 63) / 64 * 64);
  w.bytes(std::as_bytes(std::span(v)));
  return out;
}

/// A format-1 base shard of `snapshot::incremental<1024>` holding one f64 range.
std::vector<std::byte> incremental_format1(std::vector<double> const& v) {
  std::vector<std::byte> out;
  byte_writer w{out};
  auto str = [&](std::string const& s) {
    w.value(static_cast<std::uint32_t>(s.size()));
    w.bytes(std::as_bytes(std::span(s.data(), s.size())));
  };
  auto const bytes = std::as_bytes(std::span(v));
  auto const hashes = snapshot::hash_host_blocks(bytes, 1024, snapshot::lane_hash{});
  w.bytes(std::as_bytes(std::span("STRATAIN", 8)));
  w.value(std::uint32_t{1});
  w.value(std::uint64_t{1});
  w.value(std::uint32_t{0});
  w.value(std::uint32_t{1});
  str("incremental");
  w.value(std::uint64_t{1024});
  w.value(std::uint32_t{0});  // a base
  w.value(std::uint32_t{1});
  str("u");
  w.value(static_cast<std::uint32_t>(state::region_kind::host_range));
  str("f64");
  w.value(std::uint64_t{8});
  w.value(static_cast<std::uint64_t>(v.size()));
  w.value(std::uint8_t{1});
  w.value(static_cast<std::uint64_t>(bytes.size()));
  w.value(static_cast<std::uint64_t>(hashes.size()));
  w.bytes(std::as_bytes(std::span(hashes)));
  w.value(static_cast<std::uint64_t>(hashes.size()));
  for (std::uint64_t i = 0; i < hashes.size(); ++i) w.value(i);
  w.bytes(bytes);
  return out;
}
}  // namespace

TEST_CASE("full: the index alone describes every region and hashes the resizable ones", "[snapshot][index]") {
  std::vector<double> u(3000);
  std::iota(u.begin(), u.end(), 0.5);
  std::uint64_t step = 42;
  double mine = 1.5;
  state::registry reg;
  reg.protect("u", u, distributed{.global_offset = 100, .global_size = 10000, .local_offset = 10});
  reg.protect("step", step, replicated{});
  reg.protect("mine", mine);
  snapshot::full const s{.block_bytes = 4096};
  auto const encoded = s.encode(reg, sid(3));
  auto const shard = flat(encoded);
  REQUIRE(encoded.index_bytes > 0);
  REQUIRE(encoded.index_bytes < 1024);

  // From the first index_bytes bytes alone.
  auto const head = std::vector<std::byte>(shard.begin(), shard.begin() + static_cast<std::ptrdiff_t>(encoded.index_bytes));
  auto const x = s.read_index(head, sid(3), "test");
  CHECK(x.bytes == encoded.index_bytes);
  CHECK(x.block_bytes == 4096);
  REQUIRE(x.regions.size() == 3);
  auto const& g = *x.find("u");
  CHECK(g.layout.how == state::layout::kind::distributed);
  CHECK(g.layout.block.local_count == 2990);  // `whole` resolved against the container
  CHECK(g.bytes == 24000);
  CHECK(g.block_count == 6);  // five of 4096 bytes, one of 3520
  CHECK(g.all_stored());
  CHECK(g.data_offset % 64 == 0);
  CHECK(x.find("step")->block_count == 1);
  CHECK(x.find("mine")->block_count == 0);  // per-rank: never read in part, not hashed
  auto const hashes = snapshot::section_values(section(shard, g.hashes), g.hashes, "test");
  CHECK(hashes == snapshot::hash_host_blocks(std::as_bytes(std::span(u)), 4096, snapshot::lane_hash{}));
  for (std::uint64_t i = 0; i < g.block_count; ++i) {
    auto const n = std::min<std::uint64_t>(4096, g.bytes - i * 4096);
    CHECK(s.hash_block(std::span<const std::byte>(shard).subspan(g.data_offset + i * 4096, n)) == hashes[i]);
  }

  // The whole shard decodes as before.
  auto const d = s.decode(shard, sid(3), "test");
  REQUIRE(d.size() == 3);
  CHECK(std::memcmp(d[0].payload.data(), u.data(), 24000) == 0);
  CHECK(d[0].payload.data() == shard.data() + g.data_offset);  // in place

  SECTION("a damaged section is refused") {
    auto bad = shard;
    bad[g.hashes.offset + 3] ^= std::byte{1};
    CHECK_THROWS_WITH(snapshot::section_values(section(bad, g.hashes), g.hashes, "u hashes"),
                      Catch::Contains("u hashes") && Catch::Contains("does not match its checksum"));
  }
  SECTION("another version's or rank's shard is refused") {
    CHECK_THROWS_WITH(s.read_index(head, {3, 1, 2}, "here"), Catch::Contains("here: shard belongs to version 3, rank 0 of 1"));
  }
  SECTION("a front shorter than the index is refused") {
    CHECK_THROWS_WITH(s.read_index(std::span<const std::byte>(head).first(head.size() - 1), sid(3), "here"),
                      Catch::Contains("here: index of"));
  }
}

TEST_CASE("incremental: a delta's index lists its blocks; the chain locates every block of the newest version",
          "[snapshot][index]") {
  using inc = snapshot::incremental<1024>;
  std::vector<double> u(128 * 10 + 5);  // 10 blocks of 1 KiB and a short one
  std::iota(u.begin(), u.end(), 0.0);
  state::registry reg;
  reg.protect("u", u, distributed{.global_offset = 0, .global_size = u.size()});
  inc s{.max_chain = 4};
  auto const e1 = s.encode(reg, sid(1));
  auto const s1 = flat(e1);
  s.committed(1);
  u[128 * 3] = -1;
  u[u.size() - 1] = -2;  // the short last block
  auto const e2 = s.encode(reg, sid(2));
  auto const s2 = flat(e2);
  s.committed(2);
  std::vector<std::vector<std::byte>> const files{s1, s2};
  std::vector<snapshot::shard_index> chain{
      s.read_index(std::span<const std::byte>(s1).first(e1.index_bytes), sid(1), "v1"),
      s.read_index(std::span<const std::byte>(s2).first(e2.index_bytes), sid(2), "v2")};
  CHECK(chain[1].depends == std::vector<std::uint64_t>{1});
  auto const& g2 = *chain[1].find("u");
  CHECK(g2.stored == 2);
  CHECK_FALSE(g2.all_stored());

  snapshot::region_blocks rb{chain, "u"};
  REQUIRE(rb.links_with_lists() == std::vector<std::size_t>{1});
  rb.set_list(1, snapshot::section_values(section(s2, g2.stored_list), g2.stored_list, "list"));
  CHECK(rb.newest().bytes == u.size() * 8);
  auto const hashes = snapshot::section_values(section(s2, g2.hashes), g2.hashes, "hashes");
  auto const now = std::as_bytes(std::span(u));
  for (std::uint64_t i = 0; i < g2.block_count; ++i) {
    auto const [link, at] = rb.locate(i);
    CHECK(link == (i == 3 || i == 10 ? 1u : 0u));
    auto const n = rb.block_size(i);
    auto const b = std::span<const std::byte>(files[link]).subspan(static_cast<std::size_t>(at), static_cast<std::size_t>(n));
    CHECK(std::memcmp(b.data(), now.data() + i * 1024, n) == 0);
    CHECK(s.hash_block(b) == hashes[i]);
  }
  SECTION("a chain other than the one the shard names is refused") {
    std::vector<snapshot::shard_index> wrong{chain[1]};
    CHECK_THROWS_WITH(snapshot::region_blocks(wrong, "u"), Catch::Contains("another chain"));
  }
}

TEST_CASE("compressed: the inner index stays readable at the front, the data only whole", "[snapshot][index]") {
  using comp = snapshot::compressed<snapshot::full, snapshot::zstd_codec>;
  std::vector<double> u(5000, 2.0);
  state::registry reg;
  reg.protect("u", u, distributed{.global_offset = 0, .global_size = 5000});
  comp c{};
  auto const e = c.encode(reg, sid(1));
  auto const shard = flat(e);
  REQUIRE(e.index_bytes > 0);
  auto const x = c.read_index(std::span<const std::byte>(shard).first(e.index_bytes), sid(1), "test");
  CHECK_FALSE(x.block_readable);
  CHECK(x.bytes == e.index_bytes);
  REQUIRE(x.find("u"));
  CHECK(x.find("u")->layout.block.global_size == 5000);
  auto const d = c.decode(shard, sid(1), "test");
  REQUIRE(d.size() == 1);
  CHECK(std::memcmp(d[0].payload.data(), u.data(), u.size() * 8) == 0);
}

TEST_CASE("shards of format 1 (written before the index) still decode", "[snapshot][index]") {
  std::vector<double> u(700);
  std::iota(u.begin(), u.end(), 3.0);
  SECTION("full") {
    auto const shard = full_format1(u);  // decoded payloads point into the shard: keep it alive
    auto const d = snapshot::full{}.decode(shard, sid(1), "test");
    REQUIRE(d.size() == 1);
    CHECK(d[0].info.name == "u");
    CHECK(std::memcmp(d[0].payload.data(), u.data(), u.size() * 8) == 0);
  }
  SECTION("incremental") {
    snapshot::incremental<1024> s;
    auto const shard = incremental_format1(u);
    auto const d = s.decode(shard, sid(1), "test");
    REQUIRE(d.size() == 1);
    CHECK(std::memcmp(d[0].payload.data(), u.data(), u.size() * 8) == 0);
  }
  SECTION("the index of a format-1 shard is refused, so a reader falls back to the whole shard") {
    CHECK_THROWS_WITH(snapshot::full{}.read_index(full_format1(u), sid(1), "here"), Catch::Contains("has no index"));
  }
}
