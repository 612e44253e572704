#pragma once
/// \file
/// \brief `erasure_code`: k data blocks -> m parity blocks, and back from any k of the k + m, over
/// GF(2^8) with ISA-L (the arithmetic is ISA-L's; this file only builds matrices and calls it).
///
/// Without ISA-L (strata configured where `libisal-dev` is missing, `STRATA_HAVE_ISAL` undefined)
/// the type still compiles, and constructing one throws `usage_error` saying so.

#include <strata/error.hpp>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#if defined(STRATA_HAVE_ISAL) && STRATA_HAVE_ISAL
#include <isa-l.h>
#endif

namespace strata::storage::detail {

/// \brief Whether this build has ISA-L (the erasure-coded level of `node_local` needs it).
#if defined(STRATA_HAVE_ISAL) && STRATA_HAVE_ISAL
inline constexpr bool have_isal = true;
#else
inline constexpr bool have_isal = false;
#endif

/// \brief The sentence a request for an erasure code gets in a build without ISA-L.
inline std::string isal_missing(std::string const& what) {
  return what + " needs ISA-L, and strata was built without ISA-L: install libisal-dev (scripts/setup does) and "
                "configure strata again";
}

/// \brief A systematic MDS code of k data and m parity blocks of one length: the data blocks are
/// kept as they are, and any k of the k + m blocks give every data block back.
///
/// `xor_parity` (m = 1) makes the parity block the XOR of the data blocks; `cauchy` uses a Cauchy
/// matrix (`gf_gen_cauchy1_matrix`: every k x k submatrix of it is invertible), for any m with
/// k + m <= 256.
///
/// \code
/// erasure_code rs{4, 2, erasure_code::family::cauchy};
/// rs.encode(data_ptrs, len, parity_ptrs);            // 4 blocks in, 2 out
/// rs.decode(blocks_with_nullptr_for_lost, len, {1, 3}, {out1, out3});
/// \endcode
class erasure_code {
 public:
  enum class family { xor_parity, cauchy };

  erasure_code(int k, int m, family f) : k_(k), m_(m) {
    std::string const name = f == family::xor_parity ? "XOR parity" : "Reed-Solomon code";
    if (k < 1 || m < 1 || k + m > 256)
      throw usage_error(name + " with " + std::to_string(k) + " data and " + std::to_string(m) +
                        " parity blocks: need k >= 1, m >= 1 and k + m <= 256");
    if (f == family::xor_parity && m != 1)
      throw usage_error("XOR parity has exactly one parity block (asked for " + std::to_string(m) + ")");
    if constexpr (!have_isal) {
      throw usage_error(isal_missing(name));
    } else {
      auto const rows = static_cast<std::size_t>(k + m), cols = static_cast<std::size_t>(k);
      matrix_.assign(rows * cols, 0);
      if (f == family::cauchy) {
#if defined(STRATA_HAVE_ISAL) && STRATA_HAVE_ISAL
        gf_gen_cauchy1_matrix(matrix_.data(), k + m, k);
#endif
      } else {
        for (std::size_t i = 0; i < cols; ++i) matrix_[i * cols + i] = 1;
        std::fill_n(matrix_.begin() + static_cast<std::ptrdiff_t>(cols * cols), cols, 1);  // parity row: all ones
      }
    }
  }

  [[nodiscard]] int data_blocks() const noexcept { return k_; }
  [[nodiscard]] int parity_blocks() const noexcept { return m_; }

  /// \brief All m parity blocks of the k data blocks, each `len` bytes.
  void encode(std::span<std::byte const* const> data, std::size_t len, std::span<std::byte* const> parity) const {
    check_count(data.size(), static_cast<std::size_t>(k_), "data blocks to encode");
    check_count(parity.size(), static_cast<std::size_t>(m_), "parity blocks to encode");
    apply(std::span(matrix_).subspan(static_cast<std::size_t>(k_ * k_)), m_, data, len, parity);
  }

  /// \brief Parity block `p` (0 <= p < m) alone.
  void encode_one(int p, std::span<std::byte const* const> data, std::size_t len, std::byte* parity) const {
    check_count(data.size(), static_cast<std::size_t>(k_), "data blocks to encode");
    if (p < 0 || p >= m_) throw usage_error("parity block " + std::to_string(p) + " of " + std::to_string(m_));
    std::byte* out[1] = {parity};
    apply(std::span(matrix_).subspan(static_cast<std::size_t>((k_ + p) * k_), static_cast<std::size_t>(k_)), 1, data,
          len, out);
  }

  /// \brief Rebuilds the data blocks `wanted` (indices below k) from the blocks that survive:
  /// `blocks` has k + m entries (data 0..k-1, then parity 0..m-1), nullptr for a lost one; the
  /// first k present are used. Throws `error` when fewer than k survive.
  void decode(std::span<std::byte const* const> blocks, std::size_t len, std::span<int const> wanted,
              std::span<std::byte* const> out) const {
    check_count(blocks.size(), static_cast<std::size_t>(k_ + m_), "blocks to decode from");
    check_count(out.size(), wanted.size(), "outputs for the wanted blocks");
    std::vector<int> present;
    for (int i = 0; i < k_ + m_ && static_cast<int>(present.size()) < k_; ++i)
      if (blocks[static_cast<std::size_t>(i)] != nullptr) present.push_back(i);
    if (static_cast<int>(present.size()) < k_) {
      int const lost = static_cast<int>(std::ranges::count(blocks, nullptr));
      throw error("erasure code with " + std::to_string(k_) + " data and " + std::to_string(m_) + " parity blocks: " +
                  std::to_string(lost) + " blocks lost, it can rebuild at most " + std::to_string(m_));
    }
    for (int w : wanted)
      if (w < 0 || w >= k_)
        throw usage_error("erasure decode: wanted block " + std::to_string(w) + " is not a data block (0.." +
                          std::to_string(k_ - 1) + ")");
    auto const k = static_cast<std::size_t>(k_);
    // Rows of the encoding matrix for the surviving blocks: survivors = B x data, so data = B^-1 x survivors.
    std::vector<unsigned char> b(k * k), inverse(k * k);
    for (std::size_t r = 0; r < k; ++r)
      std::copy_n(matrix_.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(present[r]) * k),
                  k, b.begin() + static_cast<std::ptrdiff_t>(r * k));
    invert(b, inverse);
    std::vector<unsigned char> rows;
    std::vector<std::byte*> targets;
    for (std::size_t i = 0; i < wanted.size(); ++i) {
      auto const w = static_cast<std::size_t>(wanted[i]);
      if (blocks[w] != nullptr) {  // survived: nothing to compute
        if (out[i] != blocks[w]) std::memmove(out[i], blocks[w], len);
        continue;
      }
      rows.insert(rows.end(), inverse.begin() + static_cast<std::ptrdiff_t>(w * k),
                  inverse.begin() + static_cast<std::ptrdiff_t>((w + 1) * k));
      targets.push_back(out[i]);
    }
    if (targets.empty()) return;
    std::vector<std::byte const*> sources(k);
    for (std::size_t r = 0; r < k; ++r) sources[r] = blocks[static_cast<std::size_t>(present[r])];
    apply(rows, static_cast<int>(targets.size()), sources, len, targets);
  }

 private:
  static void check_count(std::size_t got, std::size_t want, char const* what) {
    if (got != want)
      throw usage_error(std::string("erasure code: ") + std::to_string(got) + " " + what + ", expected " +
                        std::to_string(want));
  }

  void invert([[maybe_unused]] std::vector<unsigned char>& in, [[maybe_unused]] std::vector<unsigned char>& out) const {
#if defined(STRATA_HAVE_ISAL) && STRATA_HAVE_ISAL
    if (gf_invert_matrix(in.data(), out.data(), k_) != 0)
      throw error("erasure code: the surviving blocks' matrix is singular (cannot happen for this code)");
#endif
  }

  /// out[r] = sum_j coeff[r][j] * in[j] over GF(2^8), for `rows` rows of k coefficients.
  void apply([[maybe_unused]] std::span<unsigned char const> coeff, [[maybe_unused]] int rows,
             [[maybe_unused]] std::span<std::byte const* const> in, [[maybe_unused]] std::size_t len,
             [[maybe_unused]] std::span<std::byte* const> out) const {
#if defined(STRATA_HAVE_ISAL) && STRATA_HAVE_ISAL
    std::vector<unsigned char> tables(static_cast<std::size_t>(32 * k_ * rows));
    ec_init_tables(k_, rows, const_cast<unsigned char*>(coeff.data()), tables.data());
    std::vector<unsigned char*> src(in.size()), dst(out.size());
    constexpr std::size_t piece = std::size_t{1} << 30;  // ISA-L takes an int length
    for (std::size_t off = 0; off < len; off += piece) {
      auto const n = std::min(piece, len - off);
      for (std::size_t j = 0; j < in.size(); ++j)
        src[j] = const_cast<unsigned char*>(reinterpret_cast<unsigned char const*>(in[j])) + off;
      for (std::size_t j = 0; j < out.size(); ++j) dst[j] = reinterpret_cast<unsigned char*>(out[j]) + off;
      ec_encode_data(static_cast<int>(n), k_, rows, tables.data(), src.data(), dst.data());
    }
#endif
  }

  int k_, m_;
  std::vector<unsigned char> matrix_;  // (k + m) x k, row-major; rows 0..k-1 are the identity
};

}  // namespace strata::storage::detail
