// Built against the installed package: which Thrust device system did find_package(strata) give?
// Also stages a thrust::device_vector through strata's region, the code that differs per system.
#include <strata/config.hpp>
#include <strata/state/region.hpp>

#include <thrust/device_vector.h>

#include <cstdio>

#ifdef CONSUMER_EXPECT
static_assert(THRUST_DEVICE_SYSTEM == CONSUMER_EXPECT, "find_package(strata) gave another Thrust device system");
#endif

int main() {
  thrust::device_vector<int> v(25, 7);
  auto r = strata::state::make_region("v", v);
  bool const ok = r->stage().size() == v.size() * sizeof(int);
  std::printf("consumer_system %s, device system %s\n", ok ? "ok" : "FAILED", STRATA_DEVICE_SYSTEM_NAME);
  return ok ? 0 : 1;
}
