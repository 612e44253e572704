#pragma once
/// \file
/// \brief `consistency::eventual` (SPEC R4): each rank commits its own shard with its own record, with
/// no collective on the checkpoint path; a version is usable once every rank holds it.

#include <strata/comm/concepts.hpp>
#include <strata/consistency/concepts.hpp>
#include <strata/consistency/coordinated.hpp>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace strata::consistency {

/// \brief Eventual commit: no rank waits for another to checkpoint.
///
/// Each rank writes its shard of version v durably, checks it, and writes its own record
/// (`<directory>/.strata.ranks/v<V>.r<R>`, atomic and fsync'ed) — nothing more: no vote, no
/// all-reduce, also with `.async = true` (the writer decides alone when a version is superseded).
/// Rank 0 writes version v's manifest (the usual commit record, so every tool and the coordinated
/// protocol read it) as soon as it finds every rank's record of v, at its own next checkpoint, at
/// `wait()`, at destruction and at restore; the manifest's version vector says, per rank, the newest
/// version that rank had recorded then. A restore first writes the manifests of the versions that
/// every rank holds, then restores the newest version every rank holds complete and valid, exactly
/// as `coordinated` does; the records of versions no rank can complete any more are removed.
///
/// A failure to write is reported on the rank where it happened only (`checkpoint_error` there; the
/// version never becomes usable). Needs a storage whose commit records rank 0 writes where every
/// rank reads them (`storage::posix_dir`); checked at construction.
struct eventual {
  static constexpr std::string_view name = "eventual";
  /// \brief The checkpointer takes the per-rank path (see above).
  [[nodiscard]] constexpr bool is_eventual() const noexcept { return true; }

  /// \brief As `coordinated::choose` (the newest version every rank holds complete and valid).
  template <comm::communicator Comm, class Local, class Warn>
  std::optional<std::uint64_t> choose(Comm const& comm, std::vector<std::uint64_t> const& committed_ascending,
                                      Local&& local, Warn&& warn) const {
    return coordinated{}.choose(comm, committed_ascending, static_cast<Local&&>(local), static_cast<Warn&&>(warn));
  }

  friend constexpr bool operator==(eventual, eventual) noexcept { return true; }
};

static_assert(protocol<eventual>);

/// \brief Whether `p` commits per rank (`eventual`, or an erased protocol holding it).
template <class P>
[[nodiscard]] constexpr bool is_eventual([[maybe_unused]] P const& p) noexcept {
  if constexpr (requires { { p.is_eventual() } -> std::convertible_to<bool>; }) return p.is_eventual();
  else return false;
}

/// \brief The name a manifest records for protocol `p`.
template <class P>
[[nodiscard]] constexpr std::string_view name_of([[maybe_unused]] P const& p) noexcept {
  if constexpr (requires { { p.runtime_name() } -> std::convertible_to<std::string_view>; }) return p.runtime_name();
  else return P::name;
}

}  // namespace strata::consistency
