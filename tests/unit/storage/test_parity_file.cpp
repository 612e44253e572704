// storage::detail::parity_file: node_local's L3 parity file header, written and checked.
#include <catch2/catch.hpp>
#include <strata/detail/hash.hpp>
#include <strata/storage/detail/parity_file.hpp>

#include <cstring>

using namespace strata::storage;
using strata::storage::detail::parity_header;

namespace {
/// Member 1 of the group {0, 2, 4} (m = 1), version 7, with its parity chunk filled with `fill`.
std::vector<std::byte> parity_file(version_expectation const& e, std::byte fill, parity_header* out = nullptr) {
  auto h = parity_header::for_member(7, 1, 0, {0, 2, 4}, 1, 1, e.bytes, e.xxh3);
  std::vector<std::byte> chunk(h.chunk, fill);
  h.stripe.push_back(1);
  h.chunk_xxh3.push_back(strata::detail::xxh3(chunk));
  auto const words = h.encode();
  std::vector<std::byte> file(words.size() * 8);
  std::memcpy(file.data(), words.data(), file.size());
  file.insert(file.end(), chunk.begin(), chunk.end());
  if (out) *out = h;
  return file;
}
}  // namespace

TEST_CASE("parity_header: the chunk size, the round trip, and a damaged header", "[storage][node_local]") {
  version_expectation const e{5, {100, 0, 130, 0, 70}, {11, 0, 22, 0, 33}, {}};
  parity_header h;
  auto file = parity_file(e, std::byte{5}, &h);
  CHECK(h.chunk == 128);  // the largest shard (130) / k (2), rounded up to 64
  CHECK(h.padded == 256);
  CHECK(h.ranks == std::vector<std::uint64_t>{0, 2, 4});
  CHECK(h.bytes == std::vector<std::uint64_t>{100, 130, 70});
  CHECK(file.size() == h.size() + h.chunk);
  CHECK(parity_header::chunk_offset(3, 1, h.chunk, 0) == h.size());

  std::string why;
  auto const back = parity_header::decode(file, why);
  REQUIRE(back);
  CHECK(why.empty());
  CHECK(back->encode() == h.encode());

  auto const ok = detail::check_parity_file(file, 7, 2, e);
  CHECK(ok.header);
  CHECK(ok.chunk_ok == std::vector<std::uint64_t>{1});
  CHECK(ok.why.empty());
  CHECK(detail::check_parity_file(file, 8, 2, e).why == "written for another version or rank");
  version_expectation other = e;
  other.xxh3[4] = 99;
  CHECK_THAT(detail::check_parity_file(file, 7, 2, other).why, Catch::Contains("other shards than the commit record (rank 4)"));

  file.back() ^= std::byte{1};  // the chunk
  auto const bad_chunk = detail::check_parity_file(file, 7, 2, e);
  CHECK(bad_chunk.header);
  CHECK(bad_chunk.chunk_ok == std::vector<std::uint64_t>{0});
  CHECK_THAT(bad_chunk.why, Catch::Contains("parity chunk 0 (stripe 1) fails its checksum"));

  file[8 * 4] ^= std::byte{1};  // the group word
  CHECK_FALSE(parity_header::decode(file, why));
  CHECK(why == "damaged header (checksum mismatch)");
  file.resize(40);
  CHECK_FALSE(parity_header::decode(file, why));
  CHECK_THAT(why, Catch::Contains("not a parity file"));
}
