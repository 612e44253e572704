#pragma once
/// \file
/// \brief The layout table a checkpoint carries (in a hidden region) so that it can be restored on
/// another rank count, and the plan that maps old ranks' blocks onto this rank's block.

#include <strata/error.hpp>
#include <strata/state/layout.hpp>
#include <strata/state/serializer.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace strata::checkpoint::detail {

/// \brief Name of the hidden region holding the layout table.
inline constexpr char const* layout_region_name = "strata.layout";

/// \brief One rank's layouts, by region name (distributed windows already resolved to counts).
using layout_table = std::map<std::string, state::layout>;

inline std::string encode_layouts(layout_table const& t) {
  std::vector<std::byte> out;
  byte_writer w{out};
  w.value(static_cast<std::uint32_t>(t.size()));
  for (auto const& [name, l] : t) {
    w.range(name);
    w.value(static_cast<std::uint32_t>(l.how));
    w.value(l.block.global_offset);
    w.value(l.block.global_size);
    w.value(l.block.local_offset);
    w.value(l.block.local_count);
  }
  return {reinterpret_cast<char const*>(out.data()), out.size()};
}

inline layout_table decode_layouts(std::span<const std::byte> bytes, std::string const& where) {
  try {
    byte_reader r{bytes};
    // the hidden region is a std::string: its payload is the encoded table itself
    layout_table t;
    auto const n = r.value<std::uint32_t>();
    for (std::uint32_t i = 0; i < n; ++i) {
      std::string name;
      r.range(name);
      state::layout l;
      l.how = static_cast<state::layout::kind>(r.value<std::uint32_t>());
      r.value(l.block.global_offset);
      r.value(l.block.global_size);
      r.value(l.block.local_offset);
      r.value(l.block.local_count);
      t.emplace(std::move(name), l);
    }
    return t;
  } catch (error const& e) {
    throw error(where + ": layout table unreadable: " + e.what());
  }
}

/// \brief One piece of an N→M copy: `count` elements from old rank `from`'s container at element
/// `src` into this rank's container at element `dst`.
struct piece {
  int from = 0;
  std::uint64_t src = 0, dst = 0, count = 0;
};

/// \brief Pieces that fill this rank's window `mine` from the old ranks' windows `old[r]`;
/// throws `error` if the old windows do not cover it exactly once.
inline std::vector<piece> plan_window(std::string const& name, distributed const& mine,
                                      std::vector<distributed> const& old) {
  std::vector<piece> out;
  std::uint64_t covered = 0;
  auto const lo = mine.global_offset, hi = mine.global_offset + mine.local_count;
  for (std::size_t r = 0; r < old.size(); ++r) {
    auto const& o = old[r];
    auto const olo = o.global_offset, ohi = o.global_offset + o.local_count;
    auto const a = std::max(lo, olo), b = std::min(hi, ohi);
    if (a >= b) continue;
    out.push_back({static_cast<int>(r), o.local_offset + (a - olo), mine.local_offset + (a - lo), b - a});
    covered += b - a;
  }
  if (covered != mine.local_count)
    throw error("region '" + name + "': the old ranks' blocks cover " + std::to_string(covered) + " of the " +
                std::to_string(mine.local_count) + " elements [" + std::to_string(lo) + ", " + std::to_string(hi) +
                ") this rank needs");
  return out;
}

}  // namespace strata::checkpoint::detail
