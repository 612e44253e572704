#pragma once
/// \file
/// \brief Block hashes and dirty-block copies of Thrust device memory, computed where it lives
/// (a kernel on CUDA, the device system's threads elsewhere); only hashes and dirty bytes reach the host.

#include <strata/snapshot/block_hash.hpp>

#include <thrust/copy.h>
#include <thrust/device_vector.h>
#include <thrust/execution_policy.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/transform.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace strata::snapshot {

/// \brief Hashes every block of Thrust's device system (one pass, a kernel on CUDA);
/// only the hashes (8 bytes per block) come back to the host.
template <block_hasher Hash>
std::vector<std::uint64_t> hash_device_blocks(std::byte const* device_data, std::size_t bytes, std::size_t block,
                                              Hash hash = {}) {
  auto const nb = detail::block_count(bytes, block);
  thrust::device_vector<std::uint64_t> d(nb);
  thrust::transform(thrust::device, thrust::counting_iterator<std::size_t>(0), thrust::counting_iterator<std::size_t>(nb),
                    d.begin(), detail::hash_block_at<Hash>{device_data, bytes, block, hash});
  std::vector<std::uint64_t> out(nb);
  thrust::copy(d.begin(), d.end(), out.begin());
  return out;
}

/// \brief Copies the listed blocks (ascending) of device memory into `out` on the host:
/// gathered on the device first, then one transfer of exactly the dirty bytes.
inline void copy_dirty_device_blocks(std::byte const* device_data, std::size_t bytes, std::size_t block,
                                     std::span<const std::uint64_t> dirty, std::byte* out) {
  if (dirty.empty()) return;
  std::size_t total = 0;
  for (auto i : dirty) total += std::min(block, bytes - static_cast<std::size_t>(i) * block);
  thrust::device_vector<std::uint64_t> idx(dirty.begin(), dirty.end());
  thrust::device_vector<std::byte> packed(total);
  thrust::transform(thrust::device, thrust::counting_iterator<std::size_t>(0), thrust::counting_iterator<std::size_t>(total),
                    packed.begin(), detail::gather_dirty_byte{device_data, thrust::raw_pointer_cast(idx.data()), block});
  thrust::copy(packed.begin(), packed.end(), out);
}

}  // namespace strata::snapshot
