#pragma once
/// \file
/// \brief Data handles of a `dag::task_flow` and the accesses a task declares on them: `read(h)`,
/// `write(h)`, `readwrite(h)` (SPEC S9).

#include <cstddef>
#include <cstdint>
#include <string>

namespace strata::dag {

/// \brief Index of a registered data handle in its flow.
using handle_id = std::size_t;

/// \brief How a task uses a handle: dependencies are inferred from these (RAW, WAR, WAW).
enum class access_mode : std::uint8_t { read, write, readwrite };

/// \brief True if `m` reads the previous value.
[[nodiscard]] constexpr bool reads(access_mode m) noexcept { return m != access_mode::write; }
/// \brief True if `m` produces a new value.
[[nodiscard]] constexpr bool writes(access_mode m) noexcept { return m != access_mode::read; }

/// \brief A registered buffer of `T` (returned by `task_flow::register_data`); a small value, copy freely.
template <class T>
class data_handle {
 public:
  using value_type = T;
  data_handle() = default;
  explicit data_handle(handle_id id) noexcept : id_(id) {}
  [[nodiscard]] handle_id id() const noexcept { return id_; }
  friend bool operator==(data_handle const&, data_handle const&) = default;

 private:
  handle_id id_ = 0;
};

/// \brief One declared access: a handle and a mode (the task body receives `std::span<const T>` for
/// `read`, `std::span<T>` otherwise).
template <class T, access_mode M>
struct access {
  data_handle<T> handle;
  static constexpr access_mode mode = M;
};

/// \brief The task reads `h` (runs after its latest writer in program order).
template <class T>
[[nodiscard]] constexpr access<T, access_mode::read> read(data_handle<T> h) noexcept { return {h}; }
/// \brief The task overwrites `h` without reading it (runs after the earlier readers and writer).
template <class T>
[[nodiscard]] constexpr access<T, access_mode::write> write(data_handle<T> h) noexcept { return {h}; }
/// \brief The task updates `h` in place.
template <class T>
[[nodiscard]] constexpr access<T, access_mode::readwrite> readwrite(data_handle<T> h) noexcept { return {h}; }

/// \brief An access without its type, as placement policies see it.
struct data_access {
  handle_id handle = 0;
  access_mode mode = access_mode::read;
  friend bool operator==(data_access const&, data_access const&) = default;
};

/// \brief A registered handle as placement policies see it.
struct data_info {
  std::string name;
  std::uint64_t bytes = 0;
  int home = 0;  ///< the rank whose buffer holds the value before and after a run
};

}  // namespace strata::dag
