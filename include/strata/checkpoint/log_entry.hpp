#pragma once
/// \file
/// \brief The application log's entries as a replay function sees them (SPEC R9; option
/// `.replay_log`, `checkpointer::append_log`, `checkpointer::restore_latest(replay)`).

#include <strata/detail/function_ref.hpp>
#include <strata/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>

namespace strata::checkpoint {

/// \brief One entry of the application log, handed to the replay function in index order.
struct log_entry {
  std::uint64_t term = 0;   ///< the incarnation that appended it (grows at every restore)
  std::uint64_t index = 0;  ///< consecutive on each rank; the checkpoint records the last one it includes
  std::span<const std::byte> data;

  /// \brief The entry's bytes as a `T` (appended with `append_log(T const&)`); throws if the sizes differ.
  template <class T>
    requires std::is_trivially_copyable_v<T>
  [[nodiscard]] T as() const;
};

/// \brief What `restore_latest(replay)` calls for every entry appended after the restored version
/// (or after the start, when there is none), in index order, on the rank that appended it.
using log_replayer = strata::detail::function_ref<void(log_entry const&)>;

template <class T>
  requires std::is_trivially_copyable_v<T>
T log_entry::as() const {
  if (data.size() != sizeof(T))
    throw usage_error("log entry " + std::to_string(index) + " holds " + std::to_string(data.size()) +
                      " bytes, not the " + std::to_string(sizeof(T)) + " of the type asked for");
  T v;
  std::memcpy(&v, data.data(), sizeof(T));
  return v;
}

}  // namespace strata::checkpoint
