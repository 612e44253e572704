// Protecting a type strata cannot save without a strata::serializer<T>.
#include <strata/checkpoint/checkpointer.hpp>
#include <strata/comm/solo.hpp>

#include <string>

struct particle {
  std::string name;
  double x = 0;
};

void misuse(strata::checkpointer<strata::comm::solo>& ckpt) {
  particle p;
  ckpt.protect("p", p);
}
