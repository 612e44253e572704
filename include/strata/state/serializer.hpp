#pragma once
/// \file
/// \brief The serializer customisation point: how a user type joins a checkpoint.
///
/// Trivially copyable types and contiguous ranges need nothing. Any other type
/// specialises `strata::serializer<T>`:
///
/// \code
/// template <> struct strata::serializer<my_model> {
///   static void save(strata::byte_writer& w, my_model const& m) { w.value(m.epoch); w.range(m.weights); }
///   static void load(strata::byte_reader& r, my_model& m) { r.value(m.epoch); r.range(m.weights); }
/// };
/// \endcode

#include <strata/error.hpp>
#include <strata/state/contiguous.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace strata {

/// \brief Appends bytes to a growing buffer (used by serializers).
class byte_writer {
 public:
  explicit byte_writer(std::vector<std::byte>& out) : out_(&out) {}
  /// \brief Appends raw bytes.
  void bytes(std::span<const std::byte> b) { out_->insert(out_->end(), b.begin(), b.end()); }
  /// \brief Appends a trivially copyable value.
  template <class T>
    requires std::is_trivially_copyable_v<T>
  void value(T const& v) {
    bytes(std::as_bytes(std::span<const T, 1>(&v, 1)));
  }
  /// \brief Appends a length-prefixed contiguous range of trivially copyable elements.
  template <class R>
    requires state::detail::contiguous_sized<R const> &&
             std::is_trivially_copyable_v<std::remove_const_t<state::detail::element_t<R const>>>
  void range(R const& r) {
    value(static_cast<std::uint64_t>(std::size(r)));
    bytes(std::as_bytes(std::span(std::data(r), std::size(r))));
  }
  [[nodiscard]] std::size_t size() const noexcept { return out_->size(); }

 private:
  std::vector<std::byte>* out_;
};

/// \brief Reads bytes back in the order a `byte_writer` wrote them; overruns are errors.
class byte_reader {
 public:
  explicit byte_reader(std::span<const std::byte> in) : in_(in) {}
  /// \brief Takes the next `n` bytes.
  std::span<const std::byte> bytes(std::size_t n) {
    if (n > in_.size() - pos_)
      throw error("serialized data ends early: wanted " + std::to_string(n) + " bytes at offset " +
                  std::to_string(pos_) + " of " + std::to_string(in_.size()));
    auto s = in_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  template <class T>
    requires std::is_trivially_copyable_v<T>
  void value(T& v) {
    std::memcpy(&v, bytes(sizeof(T)).data(), sizeof(T));
  }
  template <class T>
    requires std::is_trivially_copyable_v<T>
  T value() {
    T v;
    value(v);
    return v;
  }
  /// \brief Reads a length-prefixed range into a resizable container (`std::vector`, `std::string`, ...).
  template <class C>
    requires std::is_trivially_copyable_v<typename C::value_type> && requires(C& c, std::size_t n) { c.resize(n); }
  void range(C& c) {
    auto const n = value<std::uint64_t>();
    using T = typename C::value_type;
    if (n > remaining() / (sizeof(T) == 0 ? 1 : sizeof(T)))
      throw error("serialized range claims " + std::to_string(n) + " elements but only " +
                  std::to_string(remaining()) + " bytes remain");
    c.resize(static_cast<std::size_t>(n));
    if (n) std::memcpy(c.data(), bytes(n * sizeof(T)).data(), n * sizeof(T));
  }
  [[nodiscard]] std::size_t remaining() const noexcept { return in_.size() - pos_; }
  [[nodiscard]] bool done() const noexcept { return pos_ == in_.size(); }

 private:
  std::span<const std::byte> in_;
  std::size_t pos_ = 0;
};

/// \brief Customisation point: specialise with `static void save(byte_writer&, T const&)` and
/// `static void load(byte_reader&, T&)` to protect a type that is not trivially copyable.
template <class T>
struct serializer;

/// \brief True when `serializer<T>` has been specialised with save and load.
template <class T>
concept user_serializable = requires(byte_writer& w, byte_reader& r, T const& c, T& m) {
  serializer<T>::save(w, c);
  serializer<T>::load(r, m);
};

}  // namespace strata
