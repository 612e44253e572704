// Protecting a view of const elements: only the view (a pointer and a size) would be saved.
#include <strata/checkpoint/checkpointer.hpp>
#include <strata/comm/solo.hpp>

#include <span>
#include <vector>

void misuse(strata::checkpointer<strata::comm::solo>& ckpt, std::vector<double> const& u) {
  std::span<double const> view{u};
  ckpt.protect("u", view);
}
