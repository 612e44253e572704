// Block work on the data's own Thrust system (issue 14 item 1): hashes and dirty-block gathers of
// Thrust vectors of several systems and of raw device memory (device_span) agree with the host,
// on the word path and the byte path; the checkpointer hashes them there and restores them; a
// region unprotected leaves nothing behind.
#include <catch2/catch.hpp>
#include <strata/checkpoint/checkpointer.hpp>
#include <strata/comm/solo.hpp>
#include <strata/snapshot/device_blocks.hpp>
#include <strata/snapshot/incremental.hpp>
#include <support/files.hpp>

#include <thrust/device_vector.h>
#include <thrust/fill.h>
#include <thrust/system/cpp/vector.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <type_traits>
#include <vector>

using namespace strata;

namespace {
template <class X>
using system_of = typename thrust::iterator_system<decltype(std::declval<X&>().begin())>::type;

std::vector<std::byte> host_bytes_of_blocks(std::vector<std::byte> const& all, std::size_t block,
                                            std::vector<std::uint64_t> const& dirty) {
  std::vector<std::byte> out;
  for (auto i : dirty) {
    auto const first = static_cast<std::size_t>(i) * block;
    auto const n = std::min(block, all.size() - first);
    out.insert(out.end(), all.begin() + static_cast<std::ptrdiff_t>(first), all.begin() + static_cast<std::ptrdiff_t>(first + n));
  }
  return out;
}

template <class X>
void check_against_host(X& x, std::vector<std::byte> const& host, std::size_t block) {
  auto blocks = snapshot::make_device_blocks(x);
  REQUIRE(blocks->bytes() == host.size());
  CHECK(blocks->hash(block) == snapshot::hash_host_blocks(std::span<const std::byte>(host), block, snapshot::lane_hash{}));
  auto const nb = (host.size() + block - 1) / block;
  std::vector<std::uint64_t> const dirty{0, 2, nb - 1};  // the last one may be short
  auto const want = host_bytes_of_blocks(host, block, dirty);
  std::vector<std::byte> got(want.size() + 1);
  blocks->gather(block, dirty, got.data());  // aligned output: the word path where the sizes allow
  CHECK(std::memcmp(got.data(), want.data(), want.size()) == 0);
  blocks->gather(block, dirty, got.data() + 1);  // unaligned output: the byte path
  CHECK(std::memcmp(got.data() + 1, want.data(), want.size()) == 0);
  // Called again, the kept buffers serve: a change to the first element is seen in block 0 alone.
  auto const before = blocks->hash(block);
  using T = typename X::value_type;
  T const old = *x.begin();
  *x.begin() = static_cast<T>(old + 1);
  auto const after = blocks->hash(block);
  REQUIRE(after.size() == before.size());
  CHECK(after[0] != before[0]);
  CHECK(std::equal(after.begin() + 1, after.end(), before.begin() + 1));
  *x.begin() = old;
}

template <class V>
std::vector<std::byte> fill_random(V& v, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<typename V::value_type> h(v.size());
  for (auto& e : h) e = static_cast<typename V::value_type>(rng() % 1000);
  thrust::copy(h.begin(), h.end(), v.begin());
  std::vector<std::byte> bytes(h.size() * sizeof(typename V::value_type));
  std::memcpy(bytes.data(), h.data(), bytes.size());
  return bytes;
}
}  // namespace

TEST_CASE("device blocks: each Thrust system works on its own memory", "[snapshot][device]") {
  // The work runs through the range's own system, not the build's device system.
  STATIC_REQUIRE(std::is_same_v<system_of<thrust::cpp::vector<double>>, thrust::cpp::tag>);
  STATIC_REQUIRE(std::is_same_v<system_of<thrust::device_vector<double>>, thrust::device_system_tag>);
  std::size_t const block = 1024;
  SECTION("device_vector, whole words") {
    thrust::device_vector<double> v(128 * 7 + 3);  // 7 blocks and 24 bytes
    auto const host = fill_random(v, 1);
    check_against_host(v, host, block);
  }
  SECTION("cpp::vector, a ragged byte count") {
    thrust::cpp::vector<char> v(block * 4 + 5);
    auto const host = fill_random(v, 2);
    check_against_host(v, host, block);
  }
  SECTION("raw device memory through device_span") {
    thrust::device_vector<float> storage(256 * 5);
    auto const host = fill_random(storage, 3);
    device_span span{storage.data(), storage.size()};
    check_against_host(span, host, block);
  }
}

TEST_CASE("device blocks: the checkpointer hashes Thrust data and raw device memory in place and restores it",
          "[snapshot][device]") {
  test::scratch_dir dir{comm::solo{}, "devblocks"};
  thrust::device_vector<double> owner(512 * 8, 1.0);  // 8 blocks of 4 KiB, reached only through the span
  device_span field{owner.data(), owner.size()};
  thrust::cpp::vector<double> other(512 * 4, 5.0);
  thrust::device_vector<int> tail(100, 7);
  {
    checkpointer<comm::solo, snapshot::incremental<4096>> ckpt{comm::solo{}, {.directory = dir.path()}};
    ckpt.protect("field", field);
    ckpt.protect("other", other);
    ckpt.protect("tail", tail.data(), tail.size());  // pointer and count: the checkpointer keeps the span
    CHECK(ckpt.checkpoint() == 1);
    thrust::fill(owner.begin() + 512 * 3, owner.begin() + 512 * 4, 2.0);  // block 3 of the span only
    CHECK(ckpt.checkpoint() == 2);
    CHECK(ckpt.snapshot_policy().last_dirty_bytes() == 4096);
    CHECK(ckpt.snapshot_policy().depends_on() == std::vector<std::uint64_t>{1});
  }
  thrust::fill(owner.begin(), owner.end(), 0.0);
  thrust::fill(other.begin(), other.end(), 0.0);
  checkpointer<comm::solo, snapshot::incremental<4096>> ckpt{comm::solo{}, {.directory = dir.path()}};
  thrust::fill(tail.begin(), tail.end(), 0);
  ckpt.protect("field", field);
  ckpt.protect("other", other);
  ckpt.protect("tail", tail.data(), tail.size());
  REQUIRE(ckpt.restore_latest() == std::optional<std::uint64_t>{2});
  CHECK(tail[99] == 7);
  CHECK(owner[0] == 1.0);
  CHECK(owner[512 * 3 + 7] == 2.0);
  CHECK(owner[512 * 4] == 1.0);
  CHECK(other[100] == 5.0);
  CHECK(ckpt.restore(1) == 1);
  CHECK(owner[512 * 3 + 7] == 1.0);
}

TEST_CASE("device blocks: an unprotected region leaves no block work behind", "[snapshot][device]") {
  test::scratch_dir dir{comm::solo{}, "devblocks_unprotect"};
  checkpointer<comm::solo, snapshot::incremental<4096>> ckpt{comm::solo{}, {.directory = dir.path()}};
  {
    thrust::device_vector<double> gone(512 * 4, 3.0);
    ckpt.protect("u", gone);
    CHECK(ckpt.checkpoint() == 1);
    CHECK(ckpt.unprotect("u"));
  }  // the vector is freed: nothing may still point into it
  std::vector<double> u(512 * 2, 9.0);
  ckpt.protect("u", u);
  CHECK(ckpt.checkpoint() == 2);
  CHECK(ckpt.snapshot_policy().last_protected_bytes() == u.size() * sizeof(double));
  std::fill(u.begin(), u.end(), 0.0);
  REQUIRE(ckpt.restore_latest() == std::optional<std::uint64_t>{2});
  CHECK(u[5] == 9.0);
}
