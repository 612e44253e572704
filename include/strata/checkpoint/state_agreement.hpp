#pragma once
/// \file
/// \brief `checkpoint::state_agreement`: how the ranks' digests of some state compare
/// (`checkpointer::compare_state`, SPEC R10d).

#include <vector>

namespace strata::checkpoint {

/// \brief Which ranks differ from the majority's digest, and a rank that holds the majority's.
struct state_agreement {
  std::vector<int> differing;  ///< ranks whose digest is not the majority's (empty: all agree)
  int source = 0;              ///< the lowest rank holding the majority's digest
  [[nodiscard]] bool agreed() const noexcept { return differing.empty(); }
};

}  // namespace strata::checkpoint
