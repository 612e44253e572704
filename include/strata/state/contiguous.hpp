#pragma once
/// \file
/// \brief What strata needs of a contiguous range: `std::data` gives a pointer to its elements and
/// `std::size` their count (C arrays, `std::array`, `std::span`, `std::vector`, `std::string`,
/// Thrust host vectors, ...). Said with `std::data`/`std::size` (from <span>) rather than the
/// `std::ranges` concepts, whose header every file that protects state would otherwise parse.

#include <concepts>
#include <cstddef>
#include <span>
#include <type_traits>
#include <utility>

namespace strata::state::detail {

/// \brief A range whose elements are contiguous in host memory, with a size.
template <class C>
concept contiguous_sized = requires(C& c) {
  std::data(c);
  { std::size(c) } -> std::convertible_to<std::size_t>;
} && std::is_pointer_v<decltype(std::data(std::declval<C&>()))>;

/// \brief Its element type, const-qualified when the range gives const access (`std::span<const T>`).
template <contiguous_sized C>
using element_t = std::remove_pointer_t<decltype(std::data(std::declval<C&>()))>;

}  // namespace strata::state::detail
