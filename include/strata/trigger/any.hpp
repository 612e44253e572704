#pragma once
/// \file
/// \brief `trigger::any`: a trigger chosen at run time (a configuration file, a command line).

#include <strata/trigger/concepts.hpp>
#include <strata/trigger/every_n.hpp>
#include <strata/validation.hpp>

#include <memory>
#include <string_view>
#include <typeinfo>
#include <utility>

namespace strata::trigger {

/// \brief Holds any trigger and behaves as it does: its decisions, its feedback, whether the ranks
/// must agree on them (`deterministic()`, asked at run time), and, where the held trigger has it,
/// `observe_change` (ignored otherwise, as the checkpointer does without it) and `validate`.
///
/// \code
/// strata::trigger::any t = strata::trigger::every_seconds{60.0};
/// \endcode
class any {
 public:
  /// \brief Holds `trigger::every_n{}`.
  any() : any(every_n{}) {}
  /// \brief Holds a copy of `t`.
  template <class T>  // "not any" first: checking policy<any> here would recurse through the copy constructor
    requires(!std::same_as<std::remove_cvref_t<T>, any> && policy<T>)
  any(T t) : p_(std::make_unique<model<T>>(std::move(t))) {}  // NOLINT: implicit, like a value
  any(any const& o) : p_(o.p_->clone()) {}
  any(any&&) noexcept = default;
  any& operator=(any const& o) {
    if (this != &o) p_ = o.p_->clone();
    return *this;
  }
  any& operator=(any&&) noexcept = default;
  ~any() = default;

  /// \brief Whether every rank reaches the held trigger's decisions alike (no agreement needed).
  [[nodiscard]] bool deterministic() const noexcept { return p_->deterministic(); }
  [[nodiscard]] bool due(std::uint64_t step, clock::time_point now) { return p_->due(step, now); }
  void record(feedback const& f) { p_->record(f); }
  /// \brief Forwarded to a trigger that takes it (`adaptive`); ignored by one that does not.
  void observe_change(double fraction) { p_->observe_change(fraction); }
  void validate() const { p_->validate(); }
  /// \brief The held trigger, if it is a `T` (else nullptr).
  template <class T>
  [[nodiscard]] T* target() noexcept {
    return p_->type() == typeid(T) ? static_cast<T*>(p_->get()) : nullptr;
  }
  template <class T>
  [[nodiscard]] T const* target() const noexcept {
    return p_->type() == typeid(T) ? static_cast<T const*>(p_->get()) : nullptr;
  }
  /// \brief Same held type and equal values.
  friend bool operator==(any const& a, any const& b) { return a.p_->equals(*b.p_); }

 private:
  struct concept_t {
    virtual ~concept_t() = default;
    [[nodiscard]] virtual std::unique_ptr<concept_t> clone() const = 0;
    [[nodiscard]] virtual std::type_info const& type() const noexcept = 0;
    [[nodiscard]] virtual void* get() const noexcept = 0;
    [[nodiscard]] virtual bool equals(concept_t const& o) const = 0;
    [[nodiscard]] virtual bool deterministic() const noexcept = 0;
    virtual bool due(std::uint64_t step, clock::time_point now) = 0;
    virtual void record(feedback const& f) = 0;
    virtual void observe_change(double fraction) = 0;
    virtual void validate() const = 0;
  };
  template <class T>
  struct model final : concept_t {
    mutable T t;
    explicit model(T x) : t(std::move(x)) {}
    std::unique_ptr<concept_t> clone() const override { return std::make_unique<model>(t); }
    std::type_info const& type() const noexcept override { return typeid(T); }
    void* get() const noexcept override { return &t; }
    bool equals(concept_t const& o) const override {
      if (o.type() != typeid(T)) return false;
      if constexpr (std::equality_comparable<T>) return t == static_cast<model const&>(o).t;
      else return false;
    }
    bool deterministic() const noexcept override { return !needs_agreement(t); }
    bool due(std::uint64_t step, clock::time_point now) override { return static_cast<bool>(t.due(step, now)); }
    void record(feedback const& f) override { t.record(f); }
    void observe_change([[maybe_unused]] double fraction) override {
      if constexpr (requires { t.observe_change(fraction); }) t.observe_change(fraction);
    }
    void validate() const override {
      if constexpr (validating<T>) t.validate();
    }
  };
  std::unique_ptr<concept_t> p_;
};

static_assert(policy<any>);

}  // namespace strata::trigger
