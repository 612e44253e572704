#pragma once
/// \file
/// \brief How a `dag::task_flow` turns a typed task function into the runtime's type-erased body: the
/// declared accesses, the view each access gives the function (host spans here, device views in
/// `dag/device.hpp`), and the wrapper that rebuilds them from the runtime's byte spans (SPEC S9).

#include <strata/dag/access.hpp>

#include <cstddef>
#include <functional>
#include <span>
#include <type_traits>
#include <utility>

namespace strata::dag::detail {

/// The type-erased body of a task: one byte span per declared access, in declaration order.
using flow_body = std::function<void(std::span<std::span<std::byte> const>)>;

template <class A>
struct is_access : std::false_type {};
template <class T, access_mode M>
struct is_access<access<T, M>> : std::true_type {};

template <class A>
struct access_span;
template <class T>
struct access_span<access<T, access_mode::read>> {
  using type = std::span<T const>;
};
template <class T, access_mode M>
struct access_span<access<T, M>> {
  using type = std::span<T>;
};
/// What a host body gets for access `A`: `std::span<const T>` for a read, `std::span<T>` otherwise.
template <class A>
using access_span_t = typename access_span<A>::type;

/// Host views: the access's bytes as a span of its elements.
struct host_views {
  template <class A>
  static access_span_t<A> view(std::span<std::byte> b) {
    using T = typename decltype(A::handle)::value_type;
    return {reinterpret_cast<T*>(b.data()), b.size() / sizeof(T)};
  }
};

/// `fn` called with `Views::view<A>` of each access's bytes, in declaration order.
template <class Views, class... A, class F>
flow_body typed_body(F&& fn) {
  return [f = std::forward<F>(fn)](std::span<std::span<std::byte> const> b) mutable {
    [&]<std::size_t... I>(std::index_sequence<I...>) { f(Views::template view<A>(b[I])...); }(std::index_sequence_for<A...>{});
  };
}

}  // namespace strata::dag::detail
