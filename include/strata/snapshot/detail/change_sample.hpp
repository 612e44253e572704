#pragma once
/// \file
/// \brief How much of the state changed between two encodes, estimated from a rotating sample of
/// blocks (strategies that do not hash every block: `snapshot::full`). Not API.
///
/// Rationale (issue 10, item 7): the adaptive trigger needs a change rate from every strategy,
/// and hashing every block of a full snapshot would cost as much as the incremental strategy.
/// Each encode hashes one block in `every` (one block drawn at random from each run of `every`,
/// a new draw at each encode: every block is looked at in time, and a change pattern with a
/// period cannot hide between the samples as it could from a fixed stride) and rehashes the set
/// the previous encode hashed: the fraction of that set whose hash moved is the estimate for the
/// region. Cost: 2 / `every` of one hashing pass over the data.

#include <strata/snapshot/block_hash.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace strata::snapshot::detail {

/// Change estimate over all regions of one encode, and what it remembers for the next one.
class change_sampler {
 public:
  /// At least this many blocks of a region are sampled (all of them in a smaller region).
  static constexpr std::size_t min_samples = 16;

  /// Starts an encode: forgets the last estimate (regions not seen again are forgotten by `finish`).
  void begin() {
    changed_ = total_ = 0;
    seen_.clear();
  }
  /// A region of the encode, sampled: one block in `every` of `block` bytes.
  void sample(std::string const& name, std::span<const std::byte> data, std::size_t block, std::size_t every) {
    auto& r = slot(name);
    auto const nb = block_count(data.size(), block);
    auto const stride = std::max<std::size_t>(1, std::min(every, nb / min_samples));
    bool const comparable = r.known && !r.exact && r.bytes == data.size() && r.stride == stride;
    std::vector<std::uint64_t> now;
    if (comparable) {
      now = hash_set(data, block, stride, r.draw);
      std::size_t moved = 0;
      for (std::size_t j = 0; j < now.size(); ++j) moved += now[j] != r.hashes[j];
      changed_ += now.empty() ? 0 : data.size() * moved / now.size();
    } else {
      changed_ += data.size();  // nothing to compare with: all of it is new
    }
    auto const draw = r.draw + 1;
    if (!comparable || stride > 1) now = hash_set(data, block, stride, draw);  // (stride 1: every block, the same set)
    r = {true, false, data.size(), stride, draw, std::move(now)};
    total_ += data.size();
  }
  /// A region whose every block the strategy hashed anyway (`hashes`): the exact change, for free.
  void exact(std::string const& name, std::uint64_t bytes, std::size_t block, std::vector<std::uint64_t> const& hashes) {
    auto& r = slot(name);
    if (r.known && r.exact && r.bytes == bytes && r.hashes.size() == hashes.size()) {
      for (std::size_t i = 0; i < hashes.size(); ++i)
        if (hashes[i] != r.hashes[i]) changed_ += std::min<std::uint64_t>(block, bytes - i * block);
    } else {
      changed_ += bytes;
    }
    r = {true, true, bytes, 1, 0, hashes};
    total_ += bytes;
  }
  /// Ends an encode: regions no longer protected are forgotten.
  void finish() {
    std::erase_if(regions_, [&](auto const& kv) { return std::find(seen_.begin(), seen_.end(), kv.first) == seen_.end(); });
  }
  /// Estimated bytes changed since the previous encode (all of a region seen for the first time).
  [[nodiscard]] std::uint64_t changed_bytes() const noexcept { return changed_; }
  /// Bytes of all the regions of the last encode.
  [[nodiscard]] std::uint64_t protected_bytes() const noexcept { return total_; }

 private:
  struct region {
    bool known = false;
    bool exact = false;           ///< `hashes` is every block's, not a sample
    std::uint64_t bytes = 0;
    std::size_t stride = 1;
    std::uint64_t draw = 0;       ///< which sample `hashes` holds (see `pick`)
    std::vector<std::uint64_t> hashes;
  };

  static std::size_t block_count(std::size_t bytes, std::size_t block) noexcept { return (bytes + block - 1) / block; }
  /// The block sampled from run `j` (blocks j * stride .. + stride - 1, fewer in the last) in draw `draw`.
  static std::size_t pick(std::uint64_t draw, std::size_t j, std::size_t stride, std::size_t blocks) noexcept {
    std::uint64_t x = (draw * 0x9E3779B97F4A7C15ULL) ^ (static_cast<std::uint64_t>(j) * 0xC2B2AE3D27D4EB4FULL);
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 29;
    auto const first = j * stride;
    return first + static_cast<std::size_t>(x % std::min(stride, blocks - first));
  }
  static std::vector<std::uint64_t> hash_set(std::span<const std::byte> data, std::size_t block, std::size_t stride,
                                             std::uint64_t draw) {
    auto const blocks = block_count(data.size(), block);
    std::vector<std::uint64_t> out((blocks + stride - 1) / stride);
    lane_hash const h{};
    for (std::size_t j = 0; j < out.size(); ++j) {
      auto const i = stride == 1 ? j : pick(draw, j, stride, blocks);
      out[j] = h(data.data() + i * block, std::min(block, data.size() - i * block));
    }
    return out;
  }
  region& slot(std::string const& name) {
    seen_.push_back(name);
    return regions_[name];
  }

  std::map<std::string, region> regions_;
  std::vector<std::string> seen_;  ///< the regions of this encode (a handful: a vector beats a set)
  std::uint64_t changed_ = 0, total_ = 0;
};

}  // namespace strata::snapshot::detail
