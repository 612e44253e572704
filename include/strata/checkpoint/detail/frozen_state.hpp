#pragma once
/// \file
/// \brief A copy of the protected state at the moment of an asynchronous checkpoint: the only work
/// the application thread does for one (SPEC R2; issue 14 item 3). The background writer encodes
/// the copy (hashing, deltas, compression) while the application changes its own state.

#include <strata/detail/device_copy.hpp>
#include <strata/detail/staging_buffer.hpp>
#include <strata/error.hpp>
#include <strata/state/registry.hpp>

#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace strata::checkpoint::detail {

/// \brief A region of a frozen copy: the shape and bytes it had when frozen; read-only.
class frozen_region final : public state::region {
 public:
  frozen_region(state::region_info info, std::span<const std::byte> bytes) : info_(std::move(info)), bytes_(bytes) {}
  [[nodiscard]] state::region_info info() const override { return info_; }
  std::span<const std::byte> stage() override { return bytes_; }
  void load(state::region_info const&, std::span<const std::byte>) override {
    throw error("region '" + info_.name + "': a frozen copy of the state is never restored into");
  }

 private:
  state::region_info info_;
  std::span<const std::byte> bytes_;
};

/// \brief Every protected region's bytes, copied into one buffer (each region 64-byte aligned), and a
/// registry of the same names, shapes and layouts over the copy. Movable: the regions keep pointing
/// into the buffer, whose storage a move keeps.
struct frozen_state {
  strata::detail::staging_buffer buffer;  ///< page-locked with Thrust's CUDA system
  state::registry regions;
  [[nodiscard]] std::uint64_t bytes() const noexcept { return buffer.size(); }
};

/// The offset after a region of `n` bytes placed at `offset` in a frozen copy (each region 64-byte aligned).
constexpr std::size_t frozen_end(std::size_t offset, std::size_t n) noexcept {
  constexpr std::size_t align = 64;
  std::size_t const end = offset + n + align - 1;
  return end - end % align;
}

/// \brief About the size of the next frozen copy of `live`, without staging anything: user types
/// counted at the size of their last staging (0 before one), plus 1/32 to spare for growth.
inline std::size_t frozen_size_hint(state::registry const& live) {
  std::size_t total = 0;
  for (auto const& r : live) total = frozen_end(total, static_cast<std::size_t>(r->info().bytes()));
  return total ? total + total / 32 : 0;
}

/// \brief Copies `live` into `buffer` (reused: grown only when too small, so a warm buffer costs one
/// memcpy and no page faults). Device data is copied straight from the device into the buffer, every
/// region's copy queued on strata's copy stream and waited for once at the end.
inline frozen_state freeze(state::registry const& live, strata::detail::staging_buffer buffer) {
  struct piece {
    state::region* r;
    state::region_info info;
    std::span<const std::byte> staged;  // user types: serialised here (their size is known once staged)
    std::size_t offset;
  };
  std::vector<piece> pieces;
  pieces.reserve(live.size());
  std::size_t total = 0;
  for (auto const& r : live) {
    piece p{r.get(), r->info(), {}, 0};
    if (p.info.kind == state::region_kind::user) p.staged = r->stage(), p.info = r->info();
    p.offset = total;
    total = frozen_end(total, p.info.kind == state::region_kind::user ? p.staged.size() : p.info.bytes());
    pieces.push_back(std::move(p));
  }
  buffer.resize(total);  // grown only when too small: a warm buffer stays mapped
  frozen_state f{std::move(buffer), {}};
  for (auto& p : pieces) {
    std::byte* dst = f.buffer.data() + p.offset;
    std::size_t n = 0;
    if (p.info.kind == state::region_kind::user) {
      n = p.staged.size();
      if (n) std::memcpy(dst, p.staged.data(), n);
    } else {
      n = static_cast<std::size_t>(p.info.bytes());
      p.r->copy_out(std::span<std::byte>(dst, n));
    }
    bool const range = p.info.kind == state::region_kind::host_range || p.info.kind == state::region_kind::device_range;
    auto const how = live.layout_of(p.info.name);
    auto name = p.info.name;
    f.regions.add(std::move(name), std::make_unique<frozen_region>(std::move(p.info), std::span<const std::byte>(dst, n)),
                  range, how);
  }
  strata::detail::device_copies_done();
  return f;
}

}  // namespace strata::checkpoint::detail
