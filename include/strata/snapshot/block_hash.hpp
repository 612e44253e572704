#pragma once
/// \file
/// \brief Per-block hashes of host memory, one pass over the host's cores.
///
/// The hash runs unchanged on the host, on Thrust's OMP/CPP systems and in CUDA
/// kernels, so a block hashed on the GPU at checkpoint time and on the host at
/// restore time gives the same value. Hashing device memory where it lives is in
/// `strata/snapshot/device_blocks.hpp` (it needs Thrust; this header does not).

#include <strata/config.hpp>
#include <strata/detail/parallel_for.hpp>

#include <bit>
#include <concepts>
#include <cstring>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace strata::snapshot {

/// \brief A hash of one block callable on host and device: `h(bytes, n) -> std::uint64_t`.
template <class H>
concept block_hasher = std::semiregular<H> && requires(H const& h, std::byte const* p, std::size_t n) {
  { h(p, n) } -> std::same_as<std::uint64_t>;
};

/// \brief A fast 64-bit block hash: four independent multiply-rotate lanes over 8-byte words,
/// then a final avalanche. Not cryptographic; collisions of real data are ~2^-64 per block.
///
/// Words are read 8 bytes at a time (one load each; blocks are aligned multiples of 8), a ragged
/// tail byte by byte. The value is defined on little-endian words, so the host, Thrust's OMP/CPP
/// systems and CUDA kernels agree, whatever the alignment of the bytes handed in.
struct lane_hash {
  STRATA_HOST_DEVICE static constexpr std::uint64_t rotl(std::uint64_t x, int r) noexcept {
    return (x << r) | (x >> (64 - r));
  }
  /// The little-endian 8-byte word at `p` (any alignment).
  STRATA_HOST_DEVICE static std::uint64_t load8(std::byte const* p) noexcept {
#if defined(__CUDA_ARCH__)
    // Device: one 64-bit load when aligned (the block case), bytes otherwise (GPUs are little-endian).
    if ((reinterpret_cast<std::uintptr_t>(p) & 7u) == 0) return *reinterpret_cast<std::uint64_t const*>(p);
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
    return v;
#else
    // Host: memcpy is one (unaligned-safe) load; no aliasing questions.
    std::uint64_t v;
    std::memcpy(&v, p, sizeof v);
    if constexpr (std::endian::native == std::endian::big) {
      std::uint64_t r = 0;
      for (int i = 0; i < 8; ++i) r |= ((v >> (8 * i)) & 0xFFu) << (8 * (7 - i));
      v = r;
    }
    return v;
#endif
  }
  STRATA_HOST_DEVICE static constexpr std::uint64_t mix(std::uint64_t acc, std::uint64_t in) noexcept {
    return rotl(acc + in * 0xC2B2AE3D27D4EB4FULL, 31) * 0x9E3779B185EBCA87ULL;
  }
  STRATA_HOST_DEVICE std::uint64_t operator()(std::byte const* p, std::size_t n) const noexcept {
    std::uint64_t a = 0x60EA27EEADC0B5D6ULL, b = 0xC2B2AE3D27D4EB4FULL, c = 0, d = 0x61C8864E7A143579ULL;
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32) {
      std::uint64_t const w0 = load8(p + i), w1 = load8(p + i + 8), w2 = load8(p + i + 16), w3 = load8(p + i + 24);
      a = mix(a, w0);
      b = mix(b, w1);
      c = mix(c, w2);
      d = mix(d, w3);
    }
    std::uint64_t h = rotl(a, 1) + rotl(b, 7) + rotl(c, 12) + rotl(d, 18) + static_cast<std::uint64_t>(n);
    for (; i + 8 <= n; i += 8) h = rotl(h ^ mix(0, load8(p + i)), 27) * 0x9E3779B185EBCA87ULL + 0x85EBCA77C2B2AE63ULL;
    for (; i < n; ++i) h = rotl(h ^ (static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) * 0x27D4EB2F165667C5ULL), 11) * 0x9E3779B185EBCA87ULL;
    h ^= h >> 33;
    h *= 0xC2B2AE3D27D4EB4FULL;
    h ^= h >> 29;
    h *= 0x165667B19E3779F9ULL;
    h ^= h >> 32;
    return h;
  }
  friend constexpr bool operator==(lane_hash, lane_hash) noexcept { return true; }
};

static_assert(block_hasher<lane_hash>);

namespace detail {

/// Hashes block `i` of a byte range; the functor Thrust maps over block indices.
template <class Hash>
struct hash_block_at {
  std::byte const* data;
  std::size_t bytes;
  std::size_t block;
  Hash hash;
  STRATA_HOST_DEVICE std::uint64_t operator()(std::size_t i) const {
    std::size_t const off = i * block;
    std::size_t const n = bytes - off < block ? bytes - off : block;
    return hash(data + off, n);
  }
};

/// Byte `k` of the concatenation of the dirty blocks (listed ascending; only the last block may be short).
struct gather_dirty_byte {
  std::byte const* data;
  std::uint64_t const* dirty;
  std::size_t block;
  STRATA_HOST_DEVICE std::byte operator()(std::size_t k) const { return data[dirty[k / block] * block + k % block]; }
};

inline std::size_t block_count(std::size_t bytes, std::size_t block) noexcept { return (bytes + block - 1) / block; }

}  // namespace detail

/// \brief Hashes every block of host memory over the host's cores: OpenMP threads when the program
/// is built with OpenMP (as Thrust's OMP system is), else std::threads (CUDA and CPP builds).
template <block_hasher Hash>
std::vector<std::uint64_t> hash_host_blocks(std::span<const std::byte> data, std::size_t block, Hash hash = {}) {
  std::vector<std::uint64_t> out(detail::block_count(data.size(), block));
  detail::hash_block_at<Hash> const f{data.data(), data.size(), block, hash};
  // A thread gets at least 1 MiB: below that, starting one costs more than it saves.
  std::size_t const per_thread = block >= (1u << 20) ? 1 : (1u << 20) / (block ? block : 1);
  strata::detail::parallel_for(out.size(), per_thread,
                               [&](std::size_t i) { out[i] = f(i); });
  return out;
}

}  // namespace strata::snapshot
