#pragma once
/// \file
/// \brief `consistency::coordinated`: two-phase commit — every rank commits version v or none does.

#include <strata/comm/concepts.hpp>
#include <strata/config.hpp>
#include <strata/consistency/concepts.hpp>
#include <strata/snapshot/shard.hpp>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace strata::consistency {

/// \brief What a rank contributes to a commit.
struct shard_vote {
  std::uint64_t bytes = 0;
  std::uint64_t xxh3 = 0;
  std::uint64_t index_bytes = 0;  ///< the index the shard begins with (0: none)
  std::uint64_t index_xxh3 = 0;   ///< and its checksum, so that a reader can trust it alone
};

/// \brief How a local check of a restore candidate came out.
enum class verdict : std::uint64_t { valid = 0, invalid = 1, refused = 2 };

/// \brief Two-phase coordinated commit.
///
/// Phase 1: each rank writes its shard durably (temp file, fsync, rename, fsync
/// of the directory) and verifies it: its size always, its checksum read back
/// when `verify` is on; an all-reduce agrees. Phase 2: rank 0 writes the commit record atomically; a version
/// without it does not exist. A failure anywhere throws `checkpoint_error` on
/// every rank, naming the rank and the cause, and leaves the previous version intact.
///
/// \code
/// strata::checkpointer<strata::comm::mpi, strata::snapshot::full, strata::storage::posix_dir,
///                      strata::consistency::coordinated> ckpt{MPI_COMM_WORLD};
/// \endcode
struct coordinated {
  static constexpr std::string_view name = "coordinated";

  /// \brief Runs the protocol for version `v`. `make_record(votes)` (votes: `std::vector<shard_vote>`)
  /// builds the commit record on rank 0 and returns it as a `std::string`.
  template <comm::communicator Comm, class Storage, class MakeRecord>
  void commit(Comm const& comm, Storage& storage, std::uint64_t v, snapshot::encoded_shard const& shard,
              bool verify, MakeRecord const& make_record) const;

  /// \brief Agrees on the newest version that every rank holds complete and valid.
  ///
  /// `local(v, why)` checks version v on this rank. Candidates are tried newest
  /// first; an invalid one is reported through `warn` and skipped; a refused one
  /// (e.g. another rank count) throws `restore_error` on every rank.
  template <comm::communicator Comm, class Local, class Warn>
  std::optional<std::uint64_t> choose(Comm const& comm, std::vector<std::uint64_t> const& committed_ascending,
                                      Local&& local, Warn&& warn) const;

  friend constexpr bool operator==(coordinated, coordinated) noexcept { return true; }

  /// XXH3 of the first `shard.index_bytes` bytes of the shard.
  static std::uint64_t index_checksum(snapshot::encoded_shard const& shard);
};

/// \brief One rank's part of any protocol: writes its shard of `v` durably and checks it (its size;
/// its checksum read back with `verify`). With `alone` (the eventual protocol) the storage writes it
/// without the other ranks (`storage::alone::write`). \returns its vote. \throws on failure, naming the rank.
template <class Storage>
shard_vote write_and_check(Storage& storage, std::uint64_t v, snapshot::encoded_shard const& shard, bool verify, int rank,
                           bool alone = false);

static_assert(protocol<coordinated>);

}  // namespace strata::consistency

#if !defined(STRATA_SEPARATE_COMPILATION)
#include <strata/consistency/impl/coordinated.ipp>
#endif
