#pragma once
/// \file
/// \brief Readable, stable names of element types, recorded in shards so that a restore
/// into a different type is refused with a message a person can read.

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace strata::detail {

template <class T>
constexpr std::string_view pretty_type_name() noexcept {
#if defined(__clang__) || defined(__GNUC__)
  std::string_view p = __PRETTY_FUNCTION__;
  auto const start = p.find("T = ") + 4;
  auto const end = p.find_first_of(";]", start);
  return p.substr(start, end - start);
#else
  return "unknown";
#endif
}

/// \brief Short names for arithmetic types ("f64", "i32", ...), the compiler's spelling otherwise.
template <class T>
std::string type_name() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<U, bool>) return "bool";
  else if constexpr (std::is_same_v<U, char>) return "char";
  else if constexpr (std::is_floating_point_v<U>) return "f" + std::to_string(8 * sizeof(U));
  else if constexpr (std::is_integral_v<U> && std::is_signed_v<U>) return "i" + std::to_string(8 * sizeof(U));
  else if constexpr (std::is_integral_v<U>) return "u" + std::to_string(8 * sizeof(U));
  else if constexpr (std::is_same_v<U, std::byte>) return "byte";
  else return std::string(pretty_type_name<U>());
}

}  // namespace strata::detail
