#pragma once
/// \file
/// \brief Tournament trees behind the selection policies, so a decision stays logarithmic at thousands of workers. Not API.

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

namespace strata::schedule::detail {

/// A complete binary tree over n leaves; each leaf holds a key (smaller is
/// better) and a capacity (0 = not eligible). `best(need)` finds the leaf with
/// the smallest key among those with capacity >= need, by branch and bound on
/// (min key, max capacity) kept in every inner node.
template <class Key>
class min_tree {
 public:
  static constexpr Key worst = std::numeric_limits<Key>::max();

  void resize(std::size_t n) {
    n_ = n;
    width_ = std::bit_ceil(std::max<std::size_t>(n, 1));
    key_.assign(2 * width_, worst);
    cap_.assign(2 * width_, 0);
  }
  [[nodiscard]] std::size_t size() const noexcept { return n_; }

  void set(std::size_t i, Key key, std::uint64_t cap) {
    std::size_t node = width_ + i;
    key_[node] = key;
    cap_[node] = cap;
    for (node /= 2; node >= 1; node /= 2) {
      key_[node] = std::min(key_[2 * node], key_[2 * node + 1]);
      cap_[node] = std::max(cap_[2 * node], cap_[2 * node + 1]);
    }
  }

  /// Index of the smallest key among leaves with capacity >= need (need >= 1), or nothing.
  [[nodiscard]] std::optional<std::size_t> best(std::uint64_t need) const {
    if (n_ == 0 || cap_[1] < need) return std::nullopt;
    // Fast path: the overall minimum qualifies.
    std::size_t node = 1;
    while (node < width_) node = key_[2 * node] <= key_[2 * node + 1] ? 2 * node : 2 * node + 1;
    if (cap_[node] >= need && key_[node] != worst) return node - width_;
    std::size_t found = 0;
    Key best_key = worst;
    search(1, need, best_key, found);
    if (best_key == worst) return std::nullopt;
    return found - width_;
  }

 private:
  void search(std::size_t node, std::uint64_t need, Key& best_key, std::size_t& found) const {
    if (cap_[node] < need || !(key_[node] < best_key)) return;
    if (node >= width_) {
      best_key = key_[node];
      found = node;
      return;
    }
    std::size_t const l = 2 * node, r = 2 * node + 1;
    if (key_[l] <= key_[r]) {
      search(l, need, best_key, found);
      search(r, need, best_key, found);
    } else {
      search(r, need, best_key, found);
      search(l, need, best_key, found);
    }
  }

  std::size_t n_ = 0;
  std::size_t width_ = 1;
  std::vector<Key> key_;
  std::vector<std::uint64_t> cap_;
};

/// A sum tree over n non-negative weights: point update and weighted sampling in O(log n), no drift
/// (inner sums are recomputed from their children on every update).
class sum_tree {
 public:
  void resize(std::size_t n) {
    n_ = n;
    width_ = std::bit_ceil(std::max<std::size_t>(n, 1));
    sum_.assign(2 * width_, 0.0);
  }
  [[nodiscard]] std::size_t size() const noexcept { return n_; }
  void set(std::size_t i, double w) {
    std::size_t node = width_ + i;
    sum_[node] = w;
    for (node /= 2; node >= 1; node /= 2) sum_[node] = sum_[2 * node] + sum_[2 * node + 1];
  }
  [[nodiscard]] double total() const noexcept { return sum_.empty() ? 0.0 : sum_[1]; }
  [[nodiscard]] double weight(std::size_t i) const noexcept { return sum_[width_ + i]; }
  /// The leaf where the running sum passes `u` (0 <= u < total); never a zero-weight leaf.
  [[nodiscard]] std::size_t find(double u) const noexcept {
    std::size_t node = 1;
    while (node < width_) {
      std::size_t const l = 2 * node;
      if ((u < sum_[l] && sum_[l] > 0.0) || sum_[l + 1] <= 0.0) {
        node = l;
      } else {
        u -= sum_[l];
        node = l + 1;
      }
    }
    return node - width_;
  }

 private:
  std::size_t n_ = 0;
  std::size_t width_ = 1;
  std::vector<double> sum_;
};

}  // namespace strata::schedule::detail
