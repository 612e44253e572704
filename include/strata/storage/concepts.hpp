#pragma once
/// \file
/// \brief The storage driver concept (resource layer: where shards and commit records live).

#include <strata/comm/concepts.hpp>
#include <strata/snapshot/shard.hpp>
#include <strata/storage/byte_buffer.hpp>

#include <concepts>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata::storage {

/// \brief What a driver found in its location.
struct listing {
  std::vector<std::uint64_t> committed;  ///< versions with a commit record, ascending
  std::vector<std::uint64_t> all;        ///< every version with any trace (shards, directory), ascending
  std::vector<std::string> foreign;      ///< entries the driver does not recognise
};

/// \brief What a committed version's record says about its shards, for storage that repairs
/// missing shards at restore (`recover(comm, expect)`); the checkpointer reads it from the record.
struct version_expectation {
  std::uint32_t ranks = 0;                   ///< ranks that wrote the version
  std::vector<std::uint64_t> bytes, xxh3;    ///< per rank: shard size and checksum
  std::vector<std::uint64_t> depends_on;     ///< older versions this one needs (incremental chains)
};

/// \brief One rank's access to checkpoint storage.
///
/// - `attach(comm, dir)` prepares the location (errors name it and the rank);
/// - `write_shard(v, shard)` returns only when the shard is durable (else throws `checkpoint_error`);
/// - `read_shard(v, rank)` returns the bytes or throws `error` saying why (missing, short read);
/// - commit records are small texts written atomically by one rank;
/// - `free_bytes()` lets the pre-check refuse a checkpoint that cannot fit.
///
/// Models: `storage::posix_dir`.
template <class S, class Comm>
concept driver = std::semiregular<S> && comm::communicator<Comm> &&
    requires(S& s, Comm const& c, std::filesystem::path const& dir, std::uint64_t v, int rank,
             snapshot::encoded_shard const& shard, std::string_view text) {
      { S::name } -> std::convertible_to<std::string_view>;
      s.attach(c, dir);
      s.write_shard(v, shard);
      { s.read_shard(v, rank) } -> std::convertible_to<byte_buffer>;
      s.remove_shard(v, rank);
      s.write_commit(v, text);
      { s.read_commit(v) } -> std::same_as<std::optional<std::string>>;
      s.remove_commit(v);
      s.remove_version(v);
      { s.list() } -> std::same_as<listing>;
      { s.free_bytes() } -> std::same_as<std::optional<std::uint64_t>>;
      { s.shard_location(v, rank) } -> std::convertible_to<std::string>;
      { s.commit_location(v) } -> std::convertible_to<std::string>;
    };

/// \brief A driver that also reads part of a shard without reading the rest of it:
/// `read_shard_part(v, rank, offset, out)` fills `out` with bytes `[offset, offset + out.size())`
/// or throws `error` naming the shard (missing, shorter than that). An N→M restore uses it to read
/// only the blocks it needs; without it, it takes them from `read_shard`.
template <class S>
concept partial_reader = requires(S const& s, std::uint64_t v, int rank, std::uint64_t offset, std::span<std::byte> out) {
  s.read_shard_part(v, rank, offset, out);
};

/// \brief The name a manifest records for driver `s`: `S::name`, or, for a driver chosen at run time
/// (`storage::any`), the name of the one it holds (`s.runtime_name()`).
template <class S>
[[nodiscard]] std::string_view name_of([[maybe_unused]] S const& s) noexcept {
  if constexpr (requires { { s.runtime_name() } -> std::convertible_to<std::string_view>; }) return s.runtime_name();
  else return S::name;
}

/// \brief Whether `s` keeps a copy of every commit record on every rank (`replicate_commit`): the
/// checkpointer then sends each record to every rank and removes every copy. An erased driver says
/// at run time (`s.replicates_commits()`).
template <class S>
[[nodiscard]] bool replicates_commits([[maybe_unused]] S const& s) noexcept {
  if constexpr (requires { { s.replicates_commits() } -> std::convertible_to<bool>; }) return s.replicates_commits();
  else return requires(S& m, std::uint64_t v, std::string_view text) { m.replicate_commit(v, text); };
}

}  // namespace strata::storage
