// Protecting a const object: a restore would have to write into it.
#include <strata/checkpoint/checkpointer.hpp>
#include <strata/comm/solo.hpp>

#include <vector>

void misuse(strata::checkpointer<strata::comm::solo>& ckpt) {
  std::vector<double> const u(100);
  ckpt.protect("u", u);
}
