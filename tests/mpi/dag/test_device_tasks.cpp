// Device tasks of dag::task_flow across ranks under the real mpiexec: a value received from another rank
// makes the device copy stale, so the next device task copies it in again; values end at home.
#include <catch2/catch.hpp>

#include <strata/comm/mpi.hpp>
#include <strata/config.hpp>
#include <strata/dag/task_flow.hpp>

#include <thrust/execution_policy.h>
#include <thrust/transform.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

using namespace strata::dag;

namespace {
// Even tasks on the last rank, odd ones on rank 0.
struct alternate {
  [[nodiscard]] std::string_view name() const { return "alternate"; }
  [[nodiscard]] std::vector<int> assign(flow_plan_input const& in) const {
    std::vector<int> r(in.tasks.size());
    for (std::size_t t = 0; t < r.size(); ++t) r[t] = t % 2 ? 0 : in.ranks - 1;
    return r;
  }
  friend bool operator==(alternate, alternate) = default;
};
struct add {
  STRATA_HOST_DEVICE double operator()(double x, double y) const { return x + y; }
};
}  // namespace

TEST_CASE("device tasks across ranks: a received value replaces the device copy", "[dag][flow][device][mpi]") {
  strata::comm::mpi world{MPI_COMM_WORLD};
  int const P = world.size(), me = world.rank();
  constexpr std::size_t n = 512;
  std::vector<double> x(n, 0.0), y(n, 1.0);
  task_flow<alternate> flow{{.workers = 1, .devices = 1}};
  auto hx = flow.register_data("x", x);  // home rank 0
  auto hy = flow.register_data("y", y);
  auto const acc = on_device([](device_view<double> s, device_view<double const> t) {
    thrust::transform(thrust::device, s.begin(), s.end(), t.begin(), s.begin(), add{});
  });
  for (int k = 1; k <= 3; ++k) {
    flow.submit({.name = "x += y " + std::to_string(k), .cost = 1e-4}, acc, readwrite(hx), read(hy));  // last rank, device
    flow.submit({.name = "y = " + std::to_string(k + 1), .cost = 1e-4},
                [k](std::span<double> v) { std::fill(v.begin(), v.end(), k + 1.0); }, write(hy));  // rank 0, host
  }
  auto const res = flow.run(world);
  if (me == 0) {
    CHECK(x[0] == 1.0 + 2.0 + 3.0);  // every device task saw rank 0's newest y
    CHECK(x[n - 1] == 6.0);
    CHECK(y[0] == 4.0);
  }
  if (me == P - 1) {
    CHECK(res.device_tasks == 3);
    CHECK(res.device_bytes_in == 4 * n * sizeof(double));  // x once, y each time
    CHECK(res.device_bytes_out == n * sizeof(double));  // x once (its three results stayed on the device)
  } else {
    CHECK(res.device_tasks == 0);
  }
}
