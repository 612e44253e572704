#pragma once
/// \file
/// \brief `retention::any`: a retention policy chosen at run time (a configuration file, a command line).

#include <strata/checkpoint/retention.hpp>
#include <strata/validation.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <typeinfo>
#include <utility>
#include <vector>

namespace strata::retention {

/// \brief Holds any retention policy and behaves as it does. It is `dependency_aware`: for a held
/// policy that is not, `retire(committed, deps)` is the policy's `retire(committed)` (the
/// checkpointer protects dependencies afterwards either way).
///
/// \code
/// strata::retention::any r = strata::retention::keep_last<>{5};
/// \endcode
class any {
 public:
  /// \brief Holds `retention::keep_last<>{}`.
  any() : any(keep_last<>{}) {}
  /// \brief Holds a copy of `r`.
  template <class R>  // "not any" first: checking policy<any> here would recurse through the copy constructor
    requires(!std::same_as<std::remove_cvref_t<R>, any> && policy<R>)
  any(R r) : p_(std::make_unique<model<R>>(std::move(r))) {}  // NOLINT: implicit, like a value
  any(any const& o) : p_(o.p_->clone()) {}
  any(any&&) noexcept = default;
  any& operator=(any const& o) {
    if (this != &o) p_ = o.p_->clone();
    return *this;
  }
  any& operator=(any&&) noexcept = default;
  ~any() = default;

  [[nodiscard]] std::vector<std::uint64_t> retire(std::span<const std::uint64_t> committed) const {
    return p_->retire(committed);
  }
  [[nodiscard]] std::vector<std::uint64_t> retire(std::span<const std::uint64_t> committed,
                                                  dependency_map const& deps) const {
    return p_->retire(committed, deps);
  }
  void validate() const { p_->validate(); }
  /// \brief The held policy, if it is an `R` (else nullptr).
  template <class R>
  [[nodiscard]] R const* target() const noexcept {
    return p_->type() == typeid(R) ? static_cast<R const*>(p_->get()) : nullptr;
  }
  /// \brief Same held type and equal values.
  friend bool operator==(any const& a, any const& b) { return a.p_->equals(*b.p_); }

 private:
  struct concept_t {
    virtual ~concept_t() = default;
    [[nodiscard]] virtual std::unique_ptr<concept_t> clone() const = 0;
    [[nodiscard]] virtual std::type_info const& type() const noexcept = 0;
    [[nodiscard]] virtual void const* get() const noexcept = 0;
    [[nodiscard]] virtual bool equals(concept_t const& o) const = 0;
    virtual std::vector<std::uint64_t> retire(std::span<const std::uint64_t> committed) const = 0;
    virtual std::vector<std::uint64_t> retire(std::span<const std::uint64_t> committed, dependency_map const& deps) const = 0;
    virtual void validate() const = 0;
  };
  template <class R>
  struct model final : concept_t {
    R r;
    explicit model(R x) : r(std::move(x)) {}
    std::unique_ptr<concept_t> clone() const override { return std::make_unique<model>(r); }
    std::type_info const& type() const noexcept override { return typeid(R); }
    void const* get() const noexcept override { return &r; }
    bool equals(concept_t const& o) const override {
      if (o.type() != typeid(R)) return false;
      if constexpr (std::equality_comparable<R>) return r == static_cast<model const&>(o).r;
      else return false;
    }
    std::vector<std::uint64_t> retire(std::span<const std::uint64_t> committed) const override {
      return r.retire(committed);
    }
    std::vector<std::uint64_t> retire(std::span<const std::uint64_t> committed,
                                      [[maybe_unused]] dependency_map const& deps) const override {
      if constexpr (dependency_aware<R>) return r.retire(committed, deps);
      else return r.retire(committed);
    }
    void validate() const override {
      if constexpr (validating<R>) r.validate();
    }
  };
  std::unique_ptr<concept_t> p_;
};

static_assert(dependency_aware<any>);

}  // namespace strata::retention
