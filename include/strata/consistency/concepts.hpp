#pragma once
/// \file
/// \brief The consistency protocol concept: how ranks agree that a version exists.

#include <strata/comm/concepts.hpp>

#include <concepts>
#include <string_view>

namespace strata::consistency {

/// \brief A consistency protocol: a named policy with `commit` and `choose` members
/// (see `consistency::coordinated` for their exact shape, which the checkpointer checks).
template <class P>
concept protocol = std::semiregular<P> && requires {
  { P::name } -> std::convertible_to<std::string_view>;
};

}  // namespace strata::consistency
