#pragma once
/// \file
/// \brief `detail::function_ref<R(A...)>`: a non-owning reference to a callable, for parameters that
/// are called during the call only (no allocation, no <functional>: it crosses the boundary of a
/// separately compiled checkpointer as a plain pointer pair).

#include <memory>
#include <type_traits>
#include <utility>

namespace strata::detail {

template <class Signature>
class function_ref;

template <class R, class... A>
class function_ref<R(A...)> {
 public:
  /// \brief Refers to `f`, which must outlive every call through this reference.
  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, function_ref> && std::is_invocable_r_v<R, F&, A...>)
  function_ref(F&& f) noexcept  // NOLINT: implicit, as a callable parameter
      : object_(const_cast<void*>(static_cast<void const*>(std::addressof(f)))),
        call_([](void* o, A... a) -> R { return (*static_cast<std::remove_reference_t<F>*>(o))(std::forward<A>(a)...); }) {}

  R operator()(A... a) const { return call_(object_, std::forward<A>(a)...); }

 private:
  void* object_;
  R (*call_)(void*, A...);
};

}  // namespace strata::detail
