// lane_hash reads 8-byte words: its values must equal the byte-by-byte definition for every
// length (ragged tails) and alignment, on the host and through the Thrust block hashers.
#include <catch2/catch.hpp>
#include <strata/snapshot/block_hash.hpp>

#include <random>
#include <strata/snapshot/device_blocks.hpp>
#include <thrust/device_vector.h>

using strata::snapshot::lane_hash;

namespace {
/// The definition, one byte at a time (little-endian words).
std::uint64_t reference_hash(std::byte const* p, std::size_t n) {
  auto rotl = [](std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); };
  auto word = [](std::byte const* q) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(q[i])) << (8 * i);
    return v;
  };
  auto mix = [&](std::uint64_t acc, std::uint64_t in) { return rotl(acc + in * 0xC2B2AE3D27D4EB4FULL, 31) * 0x9E3779B185EBCA87ULL; };
  std::uint64_t a = 0x60EA27EEADC0B5D6ULL, b = 0xC2B2AE3D27D4EB4FULL, c = 0, d = 0x61C8864E7A143579ULL;
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    a = mix(a, word(p + i));
    b = mix(b, word(p + i + 8));
    c = mix(c, word(p + i + 16));
    d = mix(d, word(p + i + 24));
  }
  std::uint64_t h = rotl(a, 1) + rotl(b, 7) + rotl(c, 12) + rotl(d, 18) + n;
  for (; i + 8 <= n; i += 8) h = rotl(h ^ mix(0, word(p + i)), 27) * 0x9E3779B185EBCA87ULL + 0x85EBCA77C2B2AE63ULL;
  for (; i < n; ++i) h = rotl(h ^ (static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) * 0x27D4EB2F165667C5ULL), 11) * 0x9E3779B185EBCA87ULL;
  h ^= h >> 33;
  h *= 0xC2B2AE3D27D4EB4FULL;
  h ^= h >> 29;
  h *= 0x165667B19E3779F9ULL;
  h ^= h >> 32;
  return h;
}
}  // namespace

TEST_CASE("lane_hash on words equals the byte-wise definition at every length and alignment", "[block_hash]") {
  std::mt19937_64 rng(7);
  std::vector<std::uint64_t> storage(64);
  for (auto& w : storage) w = rng();
  auto const* base = reinterpret_cast<std::byte const*>(storage.data());
  for (std::size_t offset = 0; offset < 8; ++offset)
    for (std::size_t n = 0; n <= 200; ++n) {
      INFO("offset " << offset << ", length " << n);
      REQUIRE(lane_hash{}(base + offset, n) == reference_hash(base + offset, n));
    }
  // A changed byte anywhere (word, tail) changes the hash.
  std::vector<std::byte> v(77, std::byte{3});
  auto const h0 = lane_hash{}(v.data(), v.size());
  for (std::size_t k : {0u, 9u, 31u, 64u, 76u}) {
    auto w = v;
    w[k] = std::byte{4};
    CHECK(lane_hash{}(w.data(), w.size()) != h0);
  }
}

TEST_CASE("block hashers (Thrust device system and host) agree with the definition, ragged last block",
          "[block_hash]") {
  std::size_t const block = 4096, bytes = 5 * block + 24 + 5;  // last block: 3 words and 5 bytes
  std::vector<std::byte> host(bytes);
  std::mt19937_64 rng(11);
  for (auto& x : host) x = static_cast<std::byte>(rng() & 0xFF);
  auto const on_host = strata::snapshot::hash_host_blocks(std::span<const std::byte>(host), block, lane_hash{});
  thrust::device_vector<std::byte> dev(host.begin(), host.end());
  auto const on_device = strata::snapshot::make_device_blocks(dev)->hash(block);
  REQUIRE(on_host.size() == 6);
  CHECK(on_host == on_device);
  for (std::size_t i = 0; i < on_host.size(); ++i)
    CHECK(on_host[i] == reference_hash(host.data() + i * block, std::min(block, bytes - i * block)));
}
