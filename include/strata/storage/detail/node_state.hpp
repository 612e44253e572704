#pragma once
/// \file
/// \brief What the parts of `storage::node_local` share: the state `attach` sets up (this rank's
/// place among the nodes, its partners or erasure group) and where each kind of file lives.

#include <strata/comm/mailbox.hpp>
#include <strata/comm/mpi.hpp>
#include <strata/storage/detail/inventory.hpp>
#include <strata/storage/posix_dir.hpp>
#include <strata/storage/redundancy.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

namespace strata::storage::detail {

/// \brief One rank's `node_local` after `attach`: shared by the copies of a `node_local` value, and
/// handed to its writing side (`node_local` itself) and its recovering side (`node_repair`).
struct node_state {
  int rank = 0, size = 1;
  bool leader = true;  // the first rank of its node
  redundancy copies = redundancy::none;
  std::filesystem::path dir;
  std::string host;
  posix_dir files;
  std::optional<comm::mpi> comm;       // empty under comm::solo
  std::vector<std::uint64_t> node_of;  // per rank: the first rank of its node
  std::vector<int> partner;            // per rank
  std::vector<int> wards;              // ranks whose partner copy this rank keeps
  std::vector<std::string> hosts;      // per rank
  std::vector<int> group;              // L3: my group's ranks, in member order
  std::size_t group_id = 0, member = 0, parity_chunks = 0;
  std::vector<std::string> served;     // by the last recover: the level that served each rank
  // Partner copies sent without a collective: opened by `node_local::open_alone` (consistency::eventual
  // only); empty under consistency::coordinated, which never uses it.
  std::shared_ptr<comm::mailbox> mail;

  [[nodiscard]] bool erasure() const noexcept {
    return copies == redundancy::xor_group || copies == redundancy::reed_solomon;
  }
  /// "rank R on HOST": how messages name this rank.
  [[nodiscard]] std::string who() const { return "rank " + std::to_string(rank) + " on " + host; }

  /// Where rank `of`'s file of kind `k` (own shard, partner copy or parity) of version `v` lives here.
  [[nodiscard]] std::filesystem::path file_path(std::uint64_t v, int of, file_kind k) const {
    auto p = std::filesystem::path(files.shard_location(v, of));
    if (k == file_kind::partner) p.replace_extension(".partner");
    if (k == file_kind::parity) p.replace_extension(".parity");
    return p;
  }
  /// The file that holds rank `of`'s shard of `v` here: its own copy, else a partner copy (else the own path, which is missing).
  [[nodiscard]] std::filesystem::path held_copy(std::uint64_t v, int of) const {
    std::error_code ec;
    auto const own = file_path(v, of, file_kind::own);
    if (std::filesystem::exists(own, ec)) return own;
    auto const copy = file_path(v, of, file_kind::partner);
    if (std::filesystem::exists(copy, ec)) return copy;
    return own;
  }
  /// Writes the file durably (temporary name, fsync, rename), as `posix_dir` writes a shard.
  void write_file(std::uint64_t v, int of, file_kind k, std::span<const std::byte> bytes) {
    write_file(v, of, k, std::span(&bytes, 1));
  }
  void write_file(std::uint64_t v, int of, file_kind k, std::span<const std::span<const std::byte>> pieces) {
    files.write_in_version(v, file_path(v, of, k), pieces);
  }
};

}  // namespace strata::storage::detail
