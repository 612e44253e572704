#pragma once
/// \file
/// \brief Writing a shard with no other rank taking part (what `consistency::eventual` needs of a
/// storage driver, SPEC R4): the customisation points and their defaults.
///
/// A driver says how it writes alone through optional members, each with a default:
/// - `open_alone()`: collective, once after `attach` when the driver is to be written alone: opens
///   what that needs and writing with collectives does not (`node_local`'s mailbox); default: none;
/// - `why_not_alone()` → a sentence (empty: it can, in this configuration); default: it can when
///   `S::independent_writes` is true (as `posix_dir`), else a sentence naming the driver;
/// - `write_own_shard(v, shard)`: this rank's shard durable, copies for other ranks started (not
///   waited for); default: `write_shard(v, shard)`;
/// - `progress(say)`: copies other ranks sent are taken in and written, never waiting; default: none;
/// - `drain(say)`: collective, every copy started before it is written; default: none;
/// - `commit_replicas()`: the ranks other than rank 0 that keep a copy of each commit record (they
///   get it in a message, then `replicate_commit`); default: none.

#include <strata/snapshot/shard.hpp>
#include <strata/storage/concepts.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace strata::storage::alone {

/// \brief How a driver reports what it did in `progress` / `drain`: `say(text, is_warning)`.
using sayer = std::function<void(std::string const&, bool)>;

/// \brief Why `s` cannot write a shard without the other ranks (empty: it can).
template <class S>
[[nodiscard]] std::string why_not(S const& s) {
  if constexpr (requires { { s.why_not_alone() } -> std::convertible_to<std::string>; }) return s.why_not_alone();
  else if constexpr (requires { requires S::independent_writes; }) return {};
  else
    return "storage '" + std::string(storage::name_of(s)) +
           "' moves shards with collectives when it writes them; it needs consistency::coordinated";
}

/// \brief Collective: `s` will be written alone; opens what that needs (call once, after `attach`).
template <class S>
void open([[maybe_unused]] S& s) {
  if constexpr (requires { s.open_alone(); }) s.open_alone();
}

/// \brief This rank's shard of `v` durable (copies for other ranks on their way, not waited for).
template <class S>
void write(S& s, std::uint64_t v, snapshot::encoded_shard const& shard) {
  if constexpr (requires { s.write_own_shard(v, shard); }) s.write_own_shard(v, shard);
  else s.write_shard(v, shard);
}

/// \brief Takes in what other ranks sent (their copies), never waiting.
template <class S>
void progress([[maybe_unused]] S& s, [[maybe_unused]] sayer const& say) {
  if constexpr (requires { s.progress(say); }) s.progress(say);
}

/// \brief Collective: every copy started before the call is written where it goes.
template <class S>
void drain([[maybe_unused]] S& s, [[maybe_unused]] sayer const& say) {
  if constexpr (requires { s.drain(say); }) s.drain(say);
}

/// \brief The ranks other than 0 that keep their own copy of each commit record.
template <class S>
[[nodiscard]] std::vector<int> commit_replicas([[maybe_unused]] S const& s) {
  if constexpr (requires { { s.commit_replicas() } -> std::convertible_to<std::vector<int>>; }) return s.commit_replicas();
  else return {};
}

}  // namespace strata::storage::alone
