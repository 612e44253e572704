// Device tasks of dag::task_flow (flow_options::devices, on_device, cpu_or_device) on one process: the
// values, the copies kept between tasks and refreshed after a host write, mixed host / device workers,
// errors. Runs on the build's Thrust device system (CUDA memory in a CUDA build, host memory otherwise).
#include <catch2/catch.hpp>

#include <strata/config.hpp>
#include <strata/dag/task_flow.hpp>
#include <support/versioned_program.hpp>

#include <thrust/execution_policy.h>
#include <thrust/fill.h>
#include <thrust/transform.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

using namespace strata::dag;

namespace {
struct twice {
  STRATA_HOST_DEVICE double operator()(double x) const { return 2.0 * x; }
};
struct plus_one {
  STRATA_HOST_DEVICE double operator()(double x) const { return x + 1.0; }
};
struct add {
  STRATA_HOST_DEVICE double operator()(double x, double y) const { return x + y; }
};
constexpr std::size_t n = 1000;
constexpr std::uint64_t bytes = n * sizeof(double);
}  // namespace

TEST_CASE("device task: values through the device, write-only outputs not copied in, outputs copied back", "[dag][flow][device]") {
  std::vector<double> a(n), b(n, -1.0);
  for (std::size_t i = 0; i < n; ++i) a[i] = static_cast<double>(i);
  task_flow<> flow{{.workers = 1, .devices = 1}};
  auto ha = flow.register_data("a", a);
  auto hb = flow.register_data("b", b);
  flow.submit({.name = "scale"}, on_device([](device_view<double const> x, device_view<double> y) {
                thrust::transform(thrust::device, x.begin(), x.end(), y.begin(), twice{});
              }),
              read(ha), write(hb));
  auto const res = flow.run();
  CHECK(res.device_tasks == 1);
  CHECK(res.device_bytes_in == bytes);   // a only: b is write-only
  CHECK(res.device_bytes_out == bytes);  // b back to the host
  CHECK(b[0] == 0.0);
  CHECK(b[n - 1] == 2.0 * static_cast<double>(n - 1));
  CHECK(a[n - 1] == static_cast<double>(n - 1));  // read: unchanged
}

TEST_CASE("device task: a device copy is reused until the host writes the handle, then copied again", "[dag][flow][device]") {
  std::vector<double> a(n, 1.0), c(n), d(n), e(n);
  task_flow<> flow{{.workers = 1, .devices = 1}};
  auto ha = flow.register_data("a", a);
  auto hc = flow.register_data("c", c);
  auto hd = flow.register_data("d", d);
  auto he = flow.register_data("e", e);
  auto const scale = on_device([](device_view<double const> x, device_view<double> y) {
    thrust::transform(thrust::device, x.begin(), x.end(), y.begin(), twice{});
  });
  flow.submit({.name = "c = 2a"}, scale, read(ha), write(hc));
  flow.submit({.name = "d = 2a"}, scale, read(ha), write(hd));  // a still valid on the device
  flow.submit({.name = "a = 5 (host)"}, [](std::span<double> x) { std::fill(x.begin(), x.end(), 5.0); }, write(ha));
  flow.submit({.name = "e = 2a"}, scale, read(ha), write(he));  // stale: copied again
  auto const res = flow.run();
  CHECK(res.device_tasks == 3);
  CHECK(res.device_bytes_in == 2 * bytes);
  CHECK(res.device_bytes_out == 3 * bytes);
  CHECK(c[7] == 2.0);
  CHECK(d[7] == 2.0);
  CHECK(e[7] == 10.0);  // the host's value, not the device's old copy

  // A device update is seen by the host task after it, and by the next device task without a copy.
  std::vector<double> seen;
  flow.submit({.name = "a += 1 (device)"}, on_device([](device_view<double> x) {
                thrust::transform(thrust::device, x.begin(), x.end(), x.begin(), plus_one{});
              }),
              readwrite(ha));
  flow.submit({.name = "look (host)"}, [&](std::span<double const> x) { seen.assign(x.begin(), x.end()); }, read(ha));
  flow.submit({.name = "c = 2a again"}, scale, read(ha), write(hc));
  auto const again = flow.run();
  CHECK(again.device_bytes_in == bytes);  // a: the copies of another run are not trusted, then kept
  REQUIRE(seen.size() == n);
  CHECK(seen[3] == 6.0);
  CHECK(a[3] == 6.0);
  CHECK(c[3] == 12.0);
}

TEST_CASE("device task: cpu_or_device tasks run on host and device workers, every value right", "[dag][flow][device]") {
  // Eight chains of updates x += k (k: a shared handle of ones) on whichever worker takes each task: a
  // device copy used after a host task updated the handle would lose increments.
  constexpr int handles = 8, rounds = 30;
  std::vector<std::vector<double>> h(handles, std::vector<double>(256, 0.0));
  std::vector<double> ones(256, 1.0);
  task_flow<> flow{{.workers = 2, .devices = 1}};
  auto const hk = flow.register_data("k", ones);
  std::vector<data_handle<double>> hh;
  for (auto& v : h) hh.push_back(flow.register_data("h" + std::to_string(hh.size()), v));
  for (int r = 0; r < rounds; ++r)
    for (int i = 0; i < handles; ++i)
      flow.submit({.name = "inc", .cost = 1e-4},
                  cpu_or_device(
                      [](std::span<double> x, std::span<double const> y) {
                        strata::test::busy_for(std::chrono::microseconds(100));
                        for (std::size_t j = 0; j < x.size(); ++j) x[j] += y[j];
                      },
                      [](device_view<double> x, device_view<double const> y) {
                        strata::test::busy_for(std::chrono::microseconds(100));
                        thrust::transform(thrust::device, x.begin(), x.end(), y.begin(), x.begin(), add{});
                      }),
                  readwrite(hh[static_cast<std::size_t>(i)]), read(hk));
  auto const res = flow.run();
  CHECK(res.tasks_run == static_cast<std::size_t>(rounds * handles));
  CHECK(res.device_tasks > 0);                                         // the device worker took some
  CHECK(res.device_tasks < static_cast<std::size_t>(rounds * handles));  // and the host workers others
  for (auto const& v : h) {
    CHECK(v[0] == static_cast<double>(rounds));
    CHECK(v[255] == static_cast<double>(rounds));
  }
}

TEST_CASE("device task: the neighbour a host task rewrote is copied in again (values depend on it)", "[dag][flow][device]") {
  std::vector<double> x(n, 0.0), y(n, 1.0);
  task_flow<> flow{{.workers = 1, .devices = 1}};
  auto hx = flow.register_data("x", x);
  auto hy = flow.register_data("y", y);
  auto const acc = on_device([](device_view<double> s, device_view<double const> t) {
    thrust::transform(thrust::device, s.begin(), s.end(), t.begin(), s.begin(), add{});
  });
  for (int k = 1; k <= 4; ++k) {
    flow.submit({.name = "x += y"}, acc, readwrite(hx), read(hy));
    flow.submit({.name = "y = k (host)"}, [k](std::span<double> v) { std::fill(v.begin(), v.end(), k + 1.0); }, write(hy));
  }
  auto const res = flow.run();
  CHECK(x[0] == 1.0 + 2.0 + 3.0 + 4.0);  // each device task saw the host's newest y
  CHECK(res.device_bytes_in == 5 * bytes);  // x once (kept: written on the device), y each time
  CHECK(res.device_bytes_out == bytes);     // x once, at the end: its four results stayed on the device
}

TEST_CASE("device task: results stay on the device until the host reads them, then once at the end", "[dag][flow][device]") {
  std::vector<double> x(n, 0.0);
  std::vector<double> seen;
  task_flow<> flow{{.workers = 1, .devices = 1}};
  auto hx = flow.register_data("x", x);
  auto const inc = on_device([](device_view<double> v) { thrust::transform(thrust::device, v.begin(), v.end(), v.begin(), plus_one{}); });
  for (int k = 0; k < 10; ++k) flow.submit({.name = "x += 1"}, inc, readwrite(hx));
  flow.submit({.name = "look (host)"}, [&](std::span<double const> v) { seen.assign(v.begin(), v.end()); }, read(hx));
  for (int k = 0; k < 5; ++k) flow.submit({.name = "x += 1 more"}, inc, readwrite(hx));
  auto const res = flow.run();
  REQUIRE(seen.size() == n);
  CHECK(seen[0] == 10.0);  // the host task saw the device's newest value
  CHECK(seen[n - 1] == 10.0);
  CHECK(x[0] == 15.0);  // and the buffer holds the last one when run returns
  CHECK(x[n - 1] == 15.0);
  CHECK(res.device_tasks == 15);
  CHECK(res.device_bytes_in == bytes);       // once: the host's read left the device copy valid
  CHECK(res.device_bytes_out == 2 * bytes);  // for the host task, and at the end (write-through: 15)
}

TEST_CASE("device task: two devices and concurrent host readers all see the newest value", "[dag][flow][device]") {
  // Chains of x += 1 taken by either device worker (a device reading what the other wrote goes through
  // the host), each followed by host tasks reading x at once (they share the one copy back).
  constexpr int rounds = 12, readers = 3;
  std::vector<double> x(n, 0.0);
  std::vector<std::vector<double>> seen(rounds * readers);
  task_flow<> flow{{.workers = 3, .devices = 2}};
  auto hx = flow.register_data("x", x);
  auto const inc = on_device([](device_view<double> v) {
    strata::test::busy_for(std::chrono::microseconds(50));
    thrust::transform(thrust::device, v.begin(), v.end(), v.begin(), plus_one{});
  });
  for (int r = 0; r < rounds; ++r) {
    flow.submit({.name = "x += 1"}, inc, readwrite(hx));
    flow.submit({.name = "x += 1 again"}, inc, readwrite(hx));
    for (int k = 0; k < readers; ++k)
      flow.submit({.name = "look (host)"},
                  [&seen, i = r * readers + k](std::span<double const> v) {
                    strata::test::busy_for(std::chrono::microseconds(50));
                    seen[static_cast<std::size_t>(i)].assign(v.begin(), v.end());
                  },
                  read(hx));
  }
  auto const res = flow.run();
  CHECK(res.device_tasks == 2 * rounds);
  for (int r = 0; r < rounds; ++r)
    for (int k = 0; k < readers; ++k) {
      auto const& v = seen[static_cast<std::size_t>(r * readers + k)];
      REQUIRE(v.size() == n);
      CHECK(v[0] == 2.0 * (r + 1));
      CHECK(v[n - 1] == 2.0 * (r + 1));
    }
  CHECK(x[0] == 2.0 * rounds);
  // Copied back once per round for the readers, whichever came first (and once more when the round's
  // second task ran on the other device); never again at the end.
  CHECK(res.device_bytes_out >= rounds * bytes);
  CHECK(res.device_bytes_out <= 2 * rounds * bytes);
}

TEST_CASE("device task: errors name the task", "[dag][flow][device]") {
  std::vector<double> a(4);
  SECTION("a device-only task without device workers") {
    task_flow<> flow{{.workers = 2}};
    auto ha = flow.register_data("a", a);
    flow.submit({.name = "gpu only"}, on_device([](device_view<double>) {}), readwrite(ha));
    REQUIRE_THROWS_WITH(flow.run(), Catch::Contains("task 'gpu only' has only a device body") &&
                                        Catch::Contains("flow_options::devices is 0"));
  }
  SECTION("a device body that throws") {
    task_flow<> flow{{.workers = 1, .devices = 1}};
    auto ha = flow.register_data("a", a);
    flow.submit({.name = "bad kernel"}, on_device([](device_view<double>) { throw std::runtime_error("launch failed"); }),
                readwrite(ha));
    try {
      flow.run();
      FAIL("no error");
    } catch (task_error const& e) {
      CHECK(e.task() == "bad kernel");
      CHECK(e.reason() == "launch failed");
    }
  }
  SECTION("a negative device count") {
    REQUIRE_THROWS_WITH(task_flow<>({.devices = -1}), Catch::Contains("flow_options::devices must be 0 or more"));
  }
}
