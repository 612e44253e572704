#pragma once
/// \file
/// \brief Block hashes and dirty-block copies of Thrust memory, computed on the memory's own
/// system (a kernel on CUDA, OpenMP threads on OMP, a loop on CPP): only the hashes and the dirty
/// bytes reach the host. `attach_device_blocks(region, x)` gives a protected Thrust vector or
/// `device_span` this work (`state::device_blocks`); the checkpointer does it in `protect` when
/// its strategy hashes blocks there (`snapshot::device_aware`).

#include <strata/snapshot/block_hash.hpp>
#include <strata/state/region.hpp>

#include <thrust/copy.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/iterator_traits.h>
#include <thrust/memory.h>
#include <thrust/transform.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace strata::snapshot {

namespace detail {

/// Word `k` of the concatenation of the dirty blocks, 8 bytes at a time (coalesced: consecutive
/// threads read consecutive words of a block); listed ascending, only the last block may be short.
struct gather_dirty_word {
  std::uint64_t const* data;
  std::uint64_t const* dirty;
  std::size_t words_per_block;
  STRATA_HOST_DEVICE std::uint64_t operator()(std::size_t k) const {
    return data[dirty[k / words_per_block] * words_per_block + k % words_per_block];
  }
};

/// Memory of Thrust system `System` for `n` elements of a trivially copyable `T`, kept between
/// calls and grown only when too small (no allocation per checkpoint).
template <class T, class System>
class system_buffer {
 public:
  system_buffer() = default;
  system_buffer(system_buffer const&) = delete;
  system_buffer& operator=(system_buffer const&) = delete;
  ~system_buffer() {
    if (cap_) thrust::free(System{}, p_);
  }
  void resize(std::size_t n) {
    if (n > cap_) {
      if (cap_) thrust::free(System{}, p_);
      cap_ = 0;
      p_ = thrust::malloc<T>(System{}, n);
      cap_ = n;
    }
    n_ = n;
  }
  [[nodiscard]] thrust::pointer<T, System> begin() const noexcept { return p_; }
  [[nodiscard]] thrust::pointer<T, System> end() const noexcept { return p_ + static_cast<std::ptrdiff_t>(n_); }
  [[nodiscard]] T* raw() const noexcept { return thrust::raw_pointer_cast(p_); }

 private:
  thrust::pointer<T, System> p_{};
  std::size_t cap_ = 0, n_ = 0;
};

/// Block work over the elements of `X` (a Thrust vector of any system, or a `device_span`), run on
/// `X`'s own system: the algorithms get that system's execution policy, and every buffer is its memory.
template <class X>
class thrust_blocks final : public state::device_blocks {
  using system = typename thrust::iterator_system<decltype(std::declval<X&>().begin())>::type;

 public:
  explicit thrust_blocks(X& x) : x_(&x) {}
  [[nodiscard]] std::size_t bytes() const override { return x_->size() * sizeof(typename X::value_type); }

  std::vector<std::uint64_t> hash(std::size_t block) override {
    auto const n = bytes();
    auto const nb = block_count(n, block);
    std::vector<std::uint64_t> out(nb);
    if (nb == 0) return out;
    hashes_.resize(nb);
    thrust::transform(system{}, thrust::counting_iterator<std::size_t>(0), thrust::counting_iterator<std::size_t>(nb),
                      hashes_.begin(), hash_block_at<lane_hash>{data(), n, block, lane_hash{}});
    thrust::copy(hashes_.begin(), hashes_.end(), out.begin());
    return out;
  }

  void gather(std::size_t block, std::span<const std::uint64_t> dirty, std::byte* out) override {
    if (dirty.empty()) return;
    auto const n = bytes();
    std::size_t total = 0;
    for (auto i : dirty) total += std::min(block, n - static_cast<std::size_t>(i) * block);
    idx_.resize(dirty.size());
    thrust::copy(dirty.begin(), dirty.end(), idx_.begin());
    auto const aligned = [](void const* p) { return reinterpret_cast<std::uintptr_t>(p) % 8 == 0; };
    if (block % 8 == 0 && total % 8 == 0 && aligned(data()) && aligned(out)) {
      words_.resize(total / 8);
      thrust::transform(system{}, thrust::counting_iterator<std::size_t>(0),
                        thrust::counting_iterator<std::size_t>(total / 8), words_.begin(),
                        gather_dirty_word{reinterpret_cast<std::uint64_t const*>(data()), idx_.raw(), block / 8});
      thrust::copy(words_.begin(), words_.end(), reinterpret_cast<std::uint64_t*>(out));
    } else {  // a ragged region or an unaligned address: byte by byte
      bytes_.resize(total);
      thrust::transform(system{}, thrust::counting_iterator<std::size_t>(0), thrust::counting_iterator<std::size_t>(total),
                        bytes_.begin(), gather_dirty_byte{data(), idx_.raw(), block});
      thrust::copy(bytes_.begin(), bytes_.end(), out);
    }
  }

 private:
  [[nodiscard]] std::byte const* data() const {
    return reinterpret_cast<std::byte const*>(thrust::raw_pointer_cast(x_->data()));
  }
  X* x_;
  system_buffer<std::uint64_t, system> hashes_, idx_, words_;
  system_buffer<std::byte, system> bytes_;
};

}  // namespace detail

/// \brief Block work on `x`'s own Thrust system (`x` a Thrust vector of any system or a `device_span`,
/// which must outlive it); its buffers are kept between calls.
template <state::thrust_device_range X>
[[nodiscard]] std::unique_ptr<state::device_blocks> make_device_blocks(X& x) {
  return std::make_unique<detail::thrust_blocks<X>>(x);
}

/// \brief Gives region `r`, protected for `x` (a Thrust vector of any system, or a `device_span`),
/// block work on `x`'s own system: a strategy that hashes blocks (`snapshot::incremental`) then hashes
/// and gathers there, and copies only hashes and dirty blocks to the host.
template <state::thrust_device_range X>
void attach_device_blocks(state::region& r, X& x) {
  r.attach_device(make_device_blocks(x));
}

}  // namespace strata::snapshot
