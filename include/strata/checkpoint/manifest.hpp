#pragma once
/// \file
/// \brief The manifest: a version's commit record, human-readable JSON with a hash chain.
///
/// A version is committed exactly when its manifest exists and verifies. It
/// records the version, a random id, the creation time, the rank count, the
/// checksum and size of every shard, the parent version with the hash of the
/// parent's manifest (so history forms a hash chain), the ranks' version vector,
/// and a checksum of itself so that a flipped bit is detected.

#include <strata/error.hpp>

#include <strata/config.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace strata::checkpoint {

/// \brief Size and checksum of one rank's shard.
struct shard_record {
  std::uint32_t rank = 0;
  std::string location;
  std::uint64_t bytes = 0;
  std::uint64_t xxh3 = 0;
  /// The index the shard begins with (`snapshot/index.hpp`): its size (0: none recorded, as in
  /// checkpoints written before indexes) and checksum. Written only when non-zero.
  std::uint64_t index_bytes = 0;
  std::uint64_t index_xxh3 = 0;
  friend bool operator==(shard_record const&, shard_record const&) = default;
};

/// \brief Link to the version this one was taken after (its parent in the history).
struct parent_link {
  std::uint64_t version = 0;
  std::string id;
  std::uint64_t manifest_xxh3 = 0;  ///< hash of the parent's manifest text
  friend bool operator==(parent_link const&, parent_link const&) = default;
};

/// \brief The commit record of one version.
struct manifest {
  static constexpr int format_version = 1;

  std::string id;
  std::uint64_t version = 0;
  std::int64_t created_unix_ms = 0;
  std::uint32_t ranks = 1;
  std::uint64_t step = 0;
  std::string snapshot;
  std::string storage;
  std::string consistency;
  std::optional<parent_link> parent;
  std::vector<std::uint64_t> version_vector;
  std::vector<shard_record> shards;
  /// \brief Versions this one needs to be restored (incremental chains: base first); empty for a
  /// self-contained version. Written only when non-empty, so older manifests read unchanged.
  std::vector<std::uint64_t> depends_on;

  /// \brief The JSON text written to storage, ending with its own checksum.
  [[nodiscard]] STRATA_INLINE std::string to_text() const;
  /// \brief Parses and verifies a manifest; `where` names it in errors.
  STRATA_INLINE static manifest parse(std::string const& text, std::string const& where);
  /// \brief A fresh random id (64 bits, hex).
  STRATA_INLINE static std::string new_id();
  STRATA_INLINE static std::int64_t now_unix_ms();
  /// \brief Creation time as ISO 8601 UTC.
  [[nodiscard]] STRATA_INLINE std::string created_iso() const;
};

}  // namespace strata::checkpoint

#if !defined(STRATA_SEPARATE_COMPILATION)
#include <strata/checkpoint/impl/manifest.ipp>
#endif
