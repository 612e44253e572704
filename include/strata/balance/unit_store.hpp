#pragma once
/// \file
/// \brief `unit_store<T>`: the Thrust data of the work units this rank owns.

#include <strata/balance/work_unit.hpp>
#include <strata/error.hpp>

#include <thrust/device_vector.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>

namespace strata::balance {

/// \brief The data of the units owned by this rank, one `thrust::device_vector<T>` per unit id.
///
/// The balancer moves entries between ranks' stores when units migrate.
///
/// \code
/// strata::balance::unit_store<double> store;
/// store.insert(u.id, thrust::device_vector<double>(n, 0.0));
/// thrust::transform(store.at(u.id).begin(), ...);
/// \endcode
template <class T>
class unit_store {
 public:
  using vector_type = thrust::device_vector<T>;

  /// \brief Adds (or replaces) the data of unit `id`.
  void insert(std::uint64_t id, vector_type data) { data_.insert_or_assign(id, std::move(data)); }
  /// \brief The data of unit `id`; throws `usage_error` naming the unit if this rank does not hold it.
  [[nodiscard]] vector_type& at(std::uint64_t id) {
    auto it = data_.find(id);
    if (it == data_.end()) throw usage_error("balance::unit_store: this rank holds no data for unit " + std::to_string(id));
    return it->second;
  }
  [[nodiscard]] vector_type const& at(std::uint64_t id) const { return const_cast<unit_store&>(*this).at(id); }
  [[nodiscard]] bool contains(std::uint64_t id) const { return data_.contains(id); }
  /// \brief Removes unit `id`'s data and returns it.
  vector_type extract(std::uint64_t id) {
    vector_type v = std::move(at(id));
    data_.erase(id);
    return v;
  }
  /// \brief Bytes of unit `id`'s data.
  [[nodiscard]] std::uint64_t bytes(std::uint64_t id) const { return at(id).size() * sizeof(T); }
  [[nodiscard]] std::size_t size() const noexcept { return data_.size(); }
  [[nodiscard]] auto begin() { return data_.begin(); }
  [[nodiscard]] auto end() { return data_.end(); }
  [[nodiscard]] auto begin() const { return data_.begin(); }
  [[nodiscard]] auto end() const { return data_.end(); }

 private:
  std::map<std::uint64_t, vector_type> data_;
};

}  // namespace strata::balance
