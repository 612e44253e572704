#pragma once
/// \file
/// \brief Device tasks of a `dag::task_flow` (SPEC S9, G1): a task body that runs on a device worker
/// over copies of its handles in the memory of the build's Thrust device system (CUDA memory with
/// `STRATA_THRUST_DEVICE_SYSTEM=CUDA`; host memory with OMP or CPP, which runs the same code without a
/// GPU). `flow_options::devices` device workers per rank, one thread each, device `d` current on the
/// `d`-th (CUDA: `cudaSetDevice(d)`; set `CUDA_VISIBLE_DEVICES` per rank as usual).
///
/// \code
/// strata::dag::task_flow<> flow{{.workers = 2, .devices = 1}};
/// auto a = flow.register_data("a", host_a);                       // host buffers, as for any task
/// flow.submit({.name = "scale", .cost = 1e-4},
///             strata::dag::on_device([](strata::dag::device_view<const double> x, strata::dag::device_view<double> y) {
///               thrust::transform(thrust::device, x.begin(), x.end(), y.begin(), twice{});
///             }),
///             strata::dag::read(a), strata::dag::write(b));
/// flow.submit({.name = "norm"}, strata::dag::cpu_or_device(host_fn, device_fn), strata::dag::read(b));  // either kind
/// \endcode
///
/// A device body gets one `device_view<const T>` per `read(h)` and `device_view<T>` per `write(h)` /
/// `readwrite(h)`, in declaration order; it may queue asynchronous work (the worker waits for the device
/// before the task completes). Copies: a handle is copied to a device when a task there reads it and the
/// device's copy is stale; what a device task writes stays on the device and is copied back to the host
/// buffer only when the host needs it (a host task reading it, a send to another rank, a steal, another
/// device) and, if still newest there, when the run ends, so the buffers hold every value when `run`
/// returns; `flow_result` counts the device tasks and bytes.

#include <strata/dag/access.hpp>
#include <strata/state/region.hpp>

#include <thrust/device_ptr.h>

#include <cstddef>
#include <span>
#include <type_traits>
#include <utility>

namespace strata::dag {

/// \brief What a device body gets for one access: `T` elements in device memory, through a Thrust pointer.
template <class T>
using device_view = strata::device_span<thrust::device_ptr<T>>;

/// \brief A task body for device workers only (see `on_device`).
template <class F>
struct device_fn {
  F fn;
};
/// \brief A task with a host body and a device body: a host or a device worker runs it, whichever is free
/// first.
template <class Cpu, class Dev>
struct host_or_device_fn {
  Cpu cpu;
  Dev device;
};

/// \brief Marks `fn` as a device body: the task runs on a device worker only.
template <class F>
[[nodiscard]] device_fn<std::decay_t<F>> on_device(F&& fn) {
  return {std::forward<F>(fn)};
}
/// \brief A task that a host worker (`cpu`) or a device worker (`device`) may run.
template <class Cpu, class Dev>
[[nodiscard]] host_or_device_fn<std::decay_t<Cpu>, std::decay_t<Dev>> cpu_or_device(Cpu&& cpu, Dev&& device) {
  return {std::forward<Cpu>(cpu), std::forward<Dev>(device)};
}

namespace detail {

template <class F>
struct body_kind {
  static constexpr bool cpu = true, device = false;
};
template <class F>
struct body_kind<device_fn<F>> {
  static constexpr bool cpu = false, device = true;
};
template <class C, class D>
struct body_kind<host_or_device_fn<C, D>> {
  static constexpr bool cpu = true, device = true;
};

template <class A>
struct access_device_view;
template <class T>
struct access_device_view<access<T, access_mode::read>> {
  using type = device_view<T const>;
};
template <class T, access_mode M>
struct access_device_view<access<T, M>> {
  using type = device_view<T>;
};
template <class A>
using access_device_view_t = typename access_device_view<A>::type;

/// Device views (`detail::typed_body`): an access's raw device bytes as a `device_view` of its elements.
struct device_views {
  template <class A>
  static access_device_view_t<A> view(std::span<std::byte> b) {
    using V = access_device_view_t<A>;
    using E = typename std::pointer_traits<typename V::iterator>::element_type;
    return V(thrust::device_ptr<E>(reinterpret_cast<E*>(b.data())), b.size() / sizeof(E));
  }
};

}  // namespace detail
}  // namespace strata::dag
