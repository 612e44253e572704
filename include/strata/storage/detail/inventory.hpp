#pragma once
/// \file
/// \brief What `node_local`'s node directories hold (commit records, own shards, partner copies,
/// parity files, per version), listed by each node's first rank and gathered on every rank.

#include <strata/comm/mpi.hpp>
#include <strata/storage/detail/exchange.hpp>
#include <strata/storage/posix_dir.hpp>

#include <compare>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace strata::storage::detail {

/// \brief What a file of a node-local directory is.
enum class file_kind : std::uint8_t {
  record = 0,   ///< `DIR/v<V>.manifest.json`, a commit record
  own = 1,      ///< `DIR/v<V>/r<R>.shard`, rank R's own shard (L1)
  partner = 2,  ///< `DIR/v<V>/r<R>.partner`, the copy of rank R's shard kept for it (L2)
  parity = 3,   ///< `DIR/v<V>/r<R>.parity`, rank R's parity chunks (L3)
};

/// \brief A rank's file in a version's directory, by its name `r<R>.<shard|partner|parity>`.
struct rank_file {
  int rank;
  file_kind kind;
};

/// \brief Parses `r<R>.shard`, `r<R>.partner` or `r<R>.parity`; nullopt for any other name.
inline std::optional<rank_file> parse_rank_file(std::string const& name) {
  int r = -1;
  char ext[16] = {};
  if (std::sscanf(name.c_str(), "r%d.%15s", &r, ext) != 2 || r < 0) return std::nullopt;
  std::string_view const x = ext;
  if (x == "shard") return rank_file{r, file_kind::own};
  if (x == "partner") return rank_file{r, file_kind::partner};
  if (x == "parity") return rank_file{r, file_kind::parity};
  return std::nullopt;
}

/// \brief One thing a node may hold: version, kind, and whose shard (-1 for records).
struct inventory_key {
  std::uint64_t v;
  file_kind k;
  int rank;
  auto operator<=>(inventory_key const&) const = default;
};

/// \brief What every node holds.
struct inventory {
  std::map<inventory_key, std::vector<int>> items;  ///< what exists -> the node leaders holding it, ascending
  std::vector<int> leaders;                         ///< the first rank of every node, ascending
};

/// \brief What the node directory `dir` holds, as words: triples of version, kind, rank (~0 for a record).
inline std::vector<std::uint64_t> list_node_dir(std::filesystem::path const& dir) {
  std::vector<std::uint64_t> out;
  std::error_code ec;
  for (auto const& e : std::filesystem::directory_iterator(dir, ec)) {
    auto const n = e.path().filename().string();
    if (auto v = parse_version(n, ".manifest.json")) out.insert(out.end(), {*v, 0, ~std::uint64_t{0}});
    else if (auto d = parse_version(n, ""); d && e.is_directory())
      for (auto const& f : std::filesystem::directory_iterator(e.path(), ec))
        if (auto const rf = parse_rank_file(f.path().filename().string()))
          out.insert(out.end(), {*d, static_cast<std::uint64_t>(rf->kind), std::uint64_t(rf->rank)});
  }
  return out;
}

/// \brief The inventory from every rank's `list_node_dir` words, concatenated in rank order
/// (`counts[r]` words from rank r); the node leaders are the ranks r with `node_of[r] == r`.
inline inventory inventory_from(std::vector<std::uint64_t> const& all, std::vector<int> const& counts,
                                std::vector<std::uint64_t> const& node_of) {
  inventory out;
  std::size_t at = 0;
  for (std::size_t r = 0; r < node_of.size(); ++r) {
    if (node_of[r] == r) out.leaders.push_back(static_cast<int>(r));
    for (auto const end = at + static_cast<std::size_t>(counts[r]); at < end; at += 3) {
      auto const k = static_cast<file_kind>(all[at + 1]);
      int const who = k == file_kind::record ? -1 : static_cast<int>(all[at + 2]);
      out.items[{all[at], k, who}].push_back(static_cast<int>(r));
    }
  }
  return out;
}

/// \brief Collective: what every node's disk holds, known to every rank (the first rank of each node,
/// `leader`, lists its directory `dir`).
inline inventory gather_inventory(comm::mpi const& c, std::filesystem::path const& dir, bool leader,
                                  std::vector<std::uint64_t> const& node_of) {
  std::vector<std::uint64_t> mine;
  if (leader) mine = list_node_dir(dir);
  std::vector<int> counts;
  auto const all = all_gatherv(c, mine, &counts);
  return inventory_from(all, counts, node_of);
}

}  // namespace strata::storage::detail
