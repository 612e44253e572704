#pragma once
/// \file
/// \brief Definitions of `consistency::coordinated` (the two-phase commit and the restore vote):
/// included by consistency/coordinated.hpp (header-only builds), else by the checkpointer's
/// implementation and strata/src.hpp (STRATA_SEPARATE_COMPILATION).

#include <strata/comm/agree.hpp>
#include <strata/consistency/coordinated.hpp>
#include <strata/consistency/fault_points.hpp>
#include <strata/detail/hash.hpp>
#include <strata/detail/xxh3_stream.hpp>
#include <strata/error.hpp>
#include <strata/storage/alone.hpp>
#include <strata/storage/byte_buffer.hpp>

#include <algorithm>
#include <future>
#include <limits>
#include <string>

namespace strata::consistency {

template <comm::communicator Comm, class Storage, class MakeRecord>
void coordinated::commit(Comm const& comm, Storage& storage, std::uint64_t v, snapshot::encoded_shard const& shard,
                         bool verify, MakeRecord const& make_record) const {
  int const rank = comm.rank();
  shard_vote mine;
  std::string why;
  try {
    mine = write_and_check(storage, v, shard, verify, rank);
  } catch (std::exception const& e) {
    why = e.what();
  }
  fault::point(fault_points::after_shard, rank, v);

  if (auto vote = comm::agree(comm, why.empty() ? 0 : 1, why); !vote) {
    storage.remove_shard(v, rank);
    if (rank == 0) storage.remove_version(v);
    throw checkpoint_error("checkpoint version " + std::to_string(v) + " aborted, nothing committed: " + vote.reason);
  }

  auto const bytes = comm.all_gather(mine.bytes);
  auto const hashes = comm.all_gather(mine.xxh3);
  auto const index_bytes = comm.all_gather(mine.index_bytes);
  auto const index_hashes = comm.all_gather(mine.index_xxh3);
  fault::point(fault_points::before_commit, rank, v);
  std::string record_error;
  if (rank == 0) {
    try {
      std::vector<shard_vote> votes(bytes.size());
      for (std::size_t r = 0; r < votes.size(); ++r) votes[r] = {bytes[r], hashes[r], index_bytes[r], index_hashes[r]};
      storage.write_commit(v, make_record(votes));
    } catch (std::exception const& e) {
      record_error = e.what();
    }
  }
  if (auto done = comm::agree(comm, record_error.empty() ? 0 : 1, record_error); !done) {
    storage.remove_shard(v, rank);
    throw checkpoint_error("checkpoint version " + std::to_string(v) +
                           " aborted: the commit record could not be written: " + done.reason);
  }
  fault::point(fault_points::after_commit, rank, v);
}

template <comm::communicator Comm, class Local, class Warn>
std::optional<std::uint64_t> coordinated::choose(Comm const& comm, std::vector<std::uint64_t> const& committed_ascending,
                                                 Local&& local, Warn&& warn) const {
  std::uint64_t upper = std::numeric_limits<std::uint64_t>::max();
  for (;;) {
    std::uint64_t mine = 0;
    for (auto it = committed_ascending.rbegin(); it != committed_ascending.rend(); ++it)
      if (*it < upper) {
        mine = *it;
        break;
      }
    auto const v = comm.all_reduce(mine, comm::reduce_op::max);
    if (v == 0) return std::nullopt;
    std::string why;
    auto const verdict_here = static_cast<std::uint64_t>(local(v, why));
    auto const vote = comm::agree(comm, verdict_here, why);
    if (vote.code == static_cast<std::uint64_t>(verdict::valid)) return v;
    if (vote.code == static_cast<std::uint64_t>(verdict::refused)) throw restore_error(vote.reason);
    warn("version " + std::to_string(v) + " is not usable (" + vote.reason + "); falling back to an older version");
    upper = v;
  }
}

template <class Storage>
shard_vote write_and_check(Storage& storage, std::uint64_t v, snapshot::encoded_shard const& shard, bool verify, int rank,
                           bool alone) {
  // The checksum is computed while the shard is written (the write is mostly waiting on the disk).
  auto hashing = std::async(std::launch::async, [&shard] {
    detail::xxh3_stream h;
    for (auto s : shard.segments) h.update(s);
    return h.digest();
  });
  try {
    if (alone) storage::alone::write(storage, v, shard);
    else storage.write_shard(v, shard);
  } catch (...) {
    hashing.wait();
    throw;
  }
  shard_vote const mine{shard.bytes(), hashing.get(), shard.index_bytes,
                        shard.index_bytes ? coordinated::index_checksum(shard) : 0};
  // Verify: the durable shard has the size written, and with `verify` reads back to the same checksum.
  storage::byte_buffer const back = storage.read_shard(v, rank);
  if (back.size() != mine.bytes || (verify && detail::xxh3(back.span()) != mine.xxh3))
    throw checkpoint_error("rank " + std::to_string(rank) + ": " + storage.shard_location(v, rank) +
                           " does not read back as written (" + std::to_string(back.size()) + " of " +
                           std::to_string(mine.bytes) + " bytes" + (verify ? ", checksum compared" : "") + ")");
  return mine;
}

/// XXH3 of the first `shard.index_bytes` bytes of the shard.
inline std::uint64_t coordinated::index_checksum(snapshot::encoded_shard const& shard) {
  detail::xxh3_stream h;
  std::uint64_t left = shard.index_bytes;
  for (auto s : shard.segments) {
    if (left == 0) break;
    auto const n = std::min<std::uint64_t>(left, s.size());
    h.update(s.first(static_cast<std::size_t>(n)));
    left -= n;
  }
  return h.digest();
}

}  // namespace strata::consistency
