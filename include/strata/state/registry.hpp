#pragma once
/// \file
/// \brief The registry of protected regions of one rank.

#include <strata/error.hpp>
#include <strata/state/layout.hpp>
#include <strata/state/region.hpp>

#include <memory>
#include <string>
#include <vector>

namespace strata::state {

/// \brief Protected regions in the order they were protected; names are unique.
///
/// \code
/// strata::state::registry reg;
/// std::vector<double> u(100);
/// reg.protect("u", u);
/// \endcode
class registry {
 public:
  /// \brief Protects `x` under `name`; it must outlive the registry. Protecting a name twice is an error.
  template <class T>
  region& protect(std::string name, T& x, layout how = {}) {
    constexpr bool range = resizable_host_range<T> || fixed_host_range<T> || thrust_device_range<T>;
    auto r = make_region(name, x);
    return add(std::move(name), std::move(r), range, how);
  }
  /// \brief Protects a region made by `make_region` (`range`: whether it holds a range of elements,
  /// which a distributed layout needs).
  region& add(std::string name, std::unique_ptr<region> r, bool range, layout how = {}) {
    if (name.empty()) throw usage_error("protect: the name of a region must not be empty");
    if (find(name)) throw usage_error("protect: a region named '" + name + "' is already protected");
    if (how.how == layout::kind::distributed && !range)
      throw usage_error("protect: region '" + name + "' is declared distributed but is not a range of elements");
    regions_.push_back(std::move(r));
    layouts_.push_back(how);
    return *regions_.back();
  }
  /// \brief How `name` is laid out across ranks (per_rank when not protected with a layout).
  [[nodiscard]] layout layout_of(std::string const& name) const {
    for (std::size_t i = 0; i < regions_.size(); ++i)
      if (regions_[i]->info().name == name) return layouts_[i];
    return {};
  }
  /// \brief Changes the layout of a protected region (after a rebalance moved its block).
  void set_layout(std::string const& name, layout how) {
    for (std::size_t i = 0; i < regions_.size(); ++i)
      if (regions_[i]->info().name == name) {
        layouts_[i] = how;
        return;
      }
    throw usage_error("set_layout: no region named '" + name + "' is protected");
  }
  /// \brief Stops protecting `name`; false if it was not protected.
  bool unprotect(std::string const& name) {
    for (std::size_t i = 0; i < regions_.size(); ++i)
      if (regions_[i]->info().name == name) {
        layouts_.erase(layouts_.begin() + static_cast<std::ptrdiff_t>(i));
        regions_.erase(regions_.begin() + static_cast<std::ptrdiff_t>(i));
        return true;
      }
    return false;
  }
  [[nodiscard]] region* find(std::string const& name) const {
    for (auto const& r : regions_)
      if (r->info().name == name) return r.get();
    return nullptr;
  }
  [[nodiscard]] std::size_t size() const noexcept { return regions_.size(); }
  [[nodiscard]] bool empty() const noexcept { return regions_.empty(); }
  auto begin() const noexcept { return regions_.begin(); }
  auto end() const noexcept { return regions_.end(); }

 private:
  std::vector<std::unique_ptr<region>> regions_;
  std::vector<layout> layouts_;  // parallel to regions_
};

}  // namespace strata::state
