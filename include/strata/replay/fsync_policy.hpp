#pragma once
/// \file
/// \brief `replay::fsync_policy`: when a write-ahead log's appends reach stable storage (its own
/// header, so that the checkpointer's options name it without including the log).

namespace strata::replay {

/// \brief When appended records are forced to stable storage.
enum class fsync_policy {
  every_record,  ///< fsync after each append: a returned append survives a power cut
  every_n,       ///< fsync every `fsync_every` appends (and on `sync()`): a process kill loses nothing
  never,         ///< leave it to the OS (and `sync()`): survives a process kill, not a power cut
};

}  // namespace strata::replay
