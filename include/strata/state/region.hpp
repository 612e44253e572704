#pragma once
/// \file
/// \brief Regions: the protected pieces of application state, one per `protect(name, x)`.
///
/// A region knows its shape (type, element size, count), gives its current
/// bytes for a snapshot (staging device data to host where the device memory is
/// not host-accessible) and loads bytes back, resizing containers.

#include <strata/detail/type_name.hpp>
#include <strata/error.hpp>
#include <strata/state/contiguous.hpp>
#include <strata/state/serializer.hpp>

#include <strata/config.hpp>

#include <strata/detail/device_copy.hpp>
#include <strata/detail/staging_buffer.hpp>

#if STRATA_SEPARATE_DEVICE_MEMORY  // which system a Thrust range belongs to
#include <thrust/iterator/iterator_traits.h>
#endif

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace strata::state {

/// \brief How a region's bytes are produced.
enum class region_kind : std::uint32_t { value = 0, host_range = 1, device_range = 2, user = 3 };

inline char const* to_string(region_kind k) noexcept {
  switch (k) {
    case region_kind::value: return "value";
    case region_kind::host_range: return "host range";
    case region_kind::device_range: return "device range";
    default: return "user type";
  }
}

/// \brief The shape of a region, as saved in a shard and as protected now.
struct region_info {
  std::string name;
  region_kind kind = region_kind::value;
  std::string type;            ///< element type ("f64", "i32", or the compiler's spelling)
  std::uint64_t elem_size = 0; ///< bytes per element (1 for user types)
  std::uint64_t count = 0;     ///< elements
  bool resizable = false;      ///< whether restore may change `count`
  [[nodiscard]] std::uint64_t bytes() const noexcept { return elem_size * count; }
  friend bool operator==(region_info const&, region_info const&) = default;
};

/// \brief Block work done where a region's bytes live, on the memory's own system (Thrust's CUDA,
/// OMP or CPP system for a Thrust vector or pointer), so that only hashes and changed bytes reach the
/// host. Made by `snapshot::attach_device_blocks` (strata/snapshot/device_blocks.hpp, which needs
/// Thrust) for a strategy that hashes blocks; a region without one is hashed on the host over `stage()`.
class device_blocks {
 public:
  virtual ~device_blocks() = default;
  /// \brief The region's bytes now.
  [[nodiscard]] virtual std::size_t bytes() const = 0;
  /// \brief `snapshot::lane_hash` of every `block`-byte block (the last may be short), computed on
  /// the data's system into a buffer kept between calls; the hashes copied to the host.
  virtual std::vector<std::uint64_t> hash(std::size_t block) = 0;
  /// \brief The listed blocks (ascending) gathered on the data's system, then one copy of exactly
  /// those bytes to `out` on the host.
  virtual void gather(std::size_t block, std::span<const std::uint64_t> dirty, std::byte* out) = 0;
};

/// \brief A protected piece of state (type-erased; called once per checkpoint, never per element).
class region {
 public:
  virtual ~region() = default;
  /// \brief Where the bytes can be hashed and gathered without staging them all (device data with
  /// block work attached; nullptr: hash `stage()`).
  [[nodiscard]] device_blocks* device() const noexcept { return device_.get(); }
  /// \brief Attaches the block work for this region's memory (`snapshot::attach_device_blocks`).
  void attach_device(std::unique_ptr<device_blocks> d) noexcept { device_ = std::move(d); }
  /// \brief Shape now.
  [[nodiscard]] virtual region_info info() const = 0;
  /// \brief The bytes to save, valid until the next call on this region. Host data is not copied.
  virtual std::span<const std::byte> stage() = 0;
  /// \brief Copies the bytes `stage()` would give into `out` (exactly `info().bytes()` of them; not
  /// for user types, whose size is known once staged). Device data is copied straight into `out`.
  virtual void copy_out(std::span<std::byte> out) {
    auto const b = stage();
    if (!b.empty()) std::memcpy(out.data(), b.data(), b.size());
  }
  /// \brief Loads `payload`, saved with shape `saved` (already checked by `check_compatible`).
  virtual void load(region_info const& saved, std::span<const std::byte> payload) = 0;
  /// \brief Overwrites elements `[first, first + bytes / elem_size)` in place, without resizing
  /// (N→M restore of a distributed block). Only ranges of elements support it.
  virtual void load_window(std::uint64_t /*first*/, std::span<const std::byte> /*bytes*/) {
    throw usage_error("region '" + info().name + "' (" + to_string(info().kind) +
                      ") cannot be redistributed: only ranges of elements can be declared distributed");
  }

  /// \brief Throws `usage_error` naming the region if `saved` cannot be loaded into it.
  void check_compatible(region_info const& saved) const {
    auto const now = info();
    auto fail = [&](std::string const& why) {
      throw usage_error("cannot restore region '" + now.name + "': " + why);
    };
    if (saved.kind == region_kind::user || now.kind == region_kind::user) {
      if (saved.kind != now.kind || saved.type != now.type)
        fail("saved as " + std::string(to_string(saved.kind)) + " '" + saved.type + "', protected now as " +
             to_string(now.kind) + " '" + now.type + "'");
      return;
    }
    if (saved.type != now.type || saved.elem_size != now.elem_size)
      fail("saved with element type '" + saved.type + "' (" + std::to_string(saved.elem_size) +
           " bytes), protected now with '" + now.type + "' (" + std::to_string(now.elem_size) + " bytes)");
    if (!now.resizable && saved.count != now.count)
      fail("saved with " + std::to_string(saved.count) + " elements, protected now as a fixed-size region of " +
           std::to_string(now.count));
  }

 private:
  std::unique_ptr<device_blocks> device_;
};

namespace detail {

inline void check_window(std::string const& name, std::uint64_t first, std::size_t bytes, std::size_t elem,
                         std::size_t size) {
  if (bytes % elem != 0 || first + bytes / elem > size)
    throw usage_error("region '" + name + "': window of " + std::to_string(bytes / elem) + " elements at " +
                      std::to_string(first) + " does not fit its " + std::to_string(size) + " elements");
}

template <class T>
std::span<const std::byte> bytes_of(T const* p, std::size_t n) noexcept {
  return {reinterpret_cast<std::byte const*>(p), n * sizeof(T)};
}

/// A trivially copyable object, saved as its bytes.
template <class T>
class value_region final : public region {
 public:
  value_region(std::string name, T& v) : name_(std::move(name)), v_(&v) {}
  region_info info() const override { return {name_, region_kind::value, strata::detail::type_name<T>(), sizeof(T), 1, false}; }
  std::span<const std::byte> stage() override { return bytes_of(v_, 1); }
  void load(region_info const&, std::span<const std::byte> p) override { std::memcpy(v_, p.data(), sizeof(T)); }

 private:
  std::string name_;
  T* v_;
};

/// Contiguous host memory: `std::vector`, `std::string`, `thrust::host_vector` (resizable) or
/// `std::array`, `std::span`, C arrays (fixed).
template <class C, class T, bool Resizable>
class host_range_region final : public region {
 public:
  host_range_region(std::string name, C& c) : name_(std::move(name)), c_(&c) {}
  region_info info() const override {
    return {name_, region_kind::host_range, strata::detail::type_name<T>(), sizeof(T), std::size(*c_), Resizable};
  }
  std::span<const std::byte> stage() override { return bytes_of(data(), std::size(*c_)); }
  void load(region_info const& saved, std::span<const std::byte> p) override {
    if constexpr (Resizable) c_->resize(static_cast<std::size_t>(saved.count));
    if (!p.empty()) std::memcpy(static_cast<void*>(data()), p.data(), p.size());
  }
  void load_window(std::uint64_t first, std::span<const std::byte> p) override {
    check_window(name_, first, p.size(), sizeof(T), std::size(*c_));
    if (!p.empty()) std::memcpy(static_cast<void*>(data() + first), p.data(), p.size());
  }

 private:
  T* data() const { return const_cast<T*>(&*std::data(*c_)); }
  std::string name_;
  C* c_;
};

/// A Thrust vector of any system whose `data()` is a Thrust pointer (`thrust::device_vector`,
/// `thrust::omp::vector`, ...), or a `strata::device_span` over raw device memory (fixed size).
/// Memory the host can read (the OMP and CPP systems) is saved in place. CUDA memory is staged:
/// `cudaMemcpyAsync` on strata's copy stream into page-locked memory kept between checkpoints
/// (`detail::staging_buffer`), completed by one event; a restore copies from the shard straight to
/// the device.
template <class V, bool Resizable>
class device_range_region final : public region {
  using T = typename V::value_type;
#if STRATA_SEPARATE_DEVICE_MEMORY
  // This range's own system (a thrust::cpp::vector in a CUDA build is host memory).
  static constexpr bool on_device =
      std::is_same_v<typename thrust::iterator_system<decltype(std::declval<V&>().begin())>::type, thrust::device_system_tag>;
#else
  static constexpr bool on_device = false;
#endif

 public:
  device_range_region(std::string name, V& v) : name_(std::move(name)), v_(&v) {}
  /// Holds its own copy of a view (`device_span` protected by pointer and count).
  device_range_region(std::string name, V&& view) : name_(std::move(name)), own_(std::move(view)), v_(&*own_) {}
  /// The range this region saves and loads.
  [[nodiscard]] V& range() const noexcept { return *v_; }
  region_info info() const override {
    return {name_, region_kind::device_range, strata::detail::type_name<T>(), sizeof(T), v_->size(), Resizable};
  }
  std::span<const std::byte> stage() override {
    if constexpr (!on_device) return bytes_of(raw(), v_->size());
    staging_.resize(v_->size() * sizeof(T));
    strata::detail::device_to_host(staging_.data(), raw(), staging_.size());
    strata::detail::device_copies_done();
    return {staging_.data(), staging_.size()};
  }
  void copy_out(std::span<std::byte> out) override {  // straight into `out`; the caller waits for all at once
    if constexpr (!on_device) region::copy_out(out);
    else strata::detail::device_to_host(out.data(), raw(), v_->size() * sizeof(T));
  }
  void load(region_info const& saved, std::span<const std::byte> p) override {
    if constexpr (Resizable) v_->resize(static_cast<std::size_t>(saved.count));
    put(0, p);
  }
  void load_window(std::uint64_t first, std::span<const std::byte> p) override {
    check_window(name_, first, p.size(), sizeof(T), v_->size());
    put(static_cast<std::size_t>(first), p);
  }

 private:
  T* raw() const { return const_cast<T*>(v_->data().get()); }  // the address in the range's own memory
  void put(std::size_t first, std::span<const std::byte> p) {
    if (p.empty()) return;
    if constexpr (on_device) {
      strata::detail::host_to_device(raw() + first, p.data(), p.size());
      strata::detail::device_copies_done();
    } else {
      std::memcpy(static_cast<void*>(raw() + first), p.data(), p.size());
    }
  }
  std::string name_;
  std::optional<V> own_;  // a view protected by value
  V* v_;
  strata::detail::staging_buffer staging_;  // CUDA memory only; kept between checkpoints
};

/// Any type with a `strata::serializer<T>` specialisation.
template <class T>
class user_region final : public region {
 public:
  user_region(std::string name, T& v) : name_(std::move(name)), v_(&v) {}
  region_info info() const override {
    return {name_, region_kind::user, strata::detail::type_name<T>(), 1, buffer_.size(), true};
  }
  std::span<const std::byte> stage() override {
    buffer_.clear();
    byte_writer w{buffer_};
    serializer<T>::save(w, *v_);
    return buffer_;
  }
  void load(region_info const&, std::span<const std::byte> p) override {
    byte_reader r{p};
    serializer<T>::load(r, *v_);
    if (!r.done())
      throw error("region '" + name_ + "': serializer<" + strata::detail::type_name<T>() + ">::load left " +
                  std::to_string(r.remaining()) + " of " + std::to_string(p.size()) + " bytes unread");
  }

 private:
  std::string name_;
  T* v_;
  std::vector<std::byte> buffer_;
};

/// A Thrust pointer (`thrust::device_ptr`, `thrust::pointer<T, System>`): a class naming its raw
/// pointer type whose `get()` gives the address. Recognised by its shape, so that this header needs
/// no Thrust header on the host-side systems.
template <class P>
concept thrust_pointer = !std::is_pointer_v<P> && requires(P p) {
  typename P::raw_pointer;
  { p.get() } -> std::same_as<typename std::pointer_traits<P>::element_type*>;
};

}  // namespace detail

/// \brief Raw device memory as a protectable range: a Thrust pointer (`thrust::device_ptr<T>`,
/// `thrust::pointer<T, System>`; for memory from `cudaMalloc`, `thrust::device_pointer_cast(p)`) and
/// an element count. Fixed-size: a restore writes the saved elements back in place.
///
/// \code
/// double* raw;  cudaMalloc(&raw, n * sizeof(double));
/// ckpt.protect("field", thrust::device_pointer_cast(raw), n);   // the checkpointer keeps the span
/// strata::device_span field{thrust::device_pointer_cast(raw), n};
/// ckpt.protect("field2", field);  // or a span object of yours, which must then outlive the checkpointer
/// \endcode
template <class Ptr>
  requires detail::thrust_pointer<Ptr>
class device_span {
 public:
  using value_type = std::remove_cv_t<typename std::pointer_traits<Ptr>::element_type>;
  using iterator = Ptr;
  device_span(Ptr p, std::size_t n) noexcept : p_(p), n_(n) {}
  [[nodiscard]] Ptr data() const noexcept { return p_; }
  [[nodiscard]] std::size_t size() const noexcept { return n_; }
  [[nodiscard]] Ptr begin() const noexcept { return p_; }
  [[nodiscard]] Ptr end() const noexcept { return p_ + static_cast<std::ptrdiff_t>(n_); }

 private:
  Ptr p_;
  std::size_t n_;
};

/// \brief Elements of a Thrust system reached through a Thrust pointer: a Thrust vector of any
/// system (resizable) or a `device_span` (fixed).
template <class V>
concept thrust_device_range = requires(V& v) {
  typename V::value_type;
  { v.data() } -> detail::thrust_pointer;
  { v.size() } -> std::convertible_to<std::size_t>;
  v.begin();
} && std::is_trivially_copyable_v<typename V::value_type>;

/// \brief A Thrust vector whose storage is reached through a Thrust pointer (device data of any system).
template <class V>
concept thrust_device_vector = thrust_device_range<V> && requires(V& v, std::size_t n) { v.resize(n); };

/// \brief A resizable container of trivially copyable elements in contiguous host memory.
template <class C>
concept resizable_host_range = requires(C& c, std::size_t n) {
  typename C::value_type;
  { c.data() } -> std::same_as<typename C::value_type*>;
  { c.size() } -> std::convertible_to<std::size_t>;
  c.resize(n);
} && std::is_trivially_copyable_v<typename C::value_type>;

/// \brief A fixed-size contiguous range of trivially copyable elements (`std::array`, `std::span`, C array).
template <class C>
concept fixed_host_range = detail::contiguous_sized<C> && !std::is_const_v<detail::element_t<C>> &&
    std::is_trivially_copyable_v<detail::element_t<C>>;

/// \brief Anything `protect` accepts.
template <class T>
concept protectable = user_serializable<T> || thrust_device_range<T> || resizable_host_range<T> ||
    fixed_host_range<T> || std::is_trivially_copyable_v<T>;

/// \brief Makes the region for `x`; the choice goes, in order: serializer<T>, Thrust device
/// vector or `device_span`, resizable host container, fixed contiguous range, trivially copyable value.
template <class T>
std::unique_ptr<region> make_region(std::string name, T& x) {
  static_assert(protectable<T>,
                "strata::protect: this type is neither trivially copyable, nor a contiguous range of trivially "
                "copyable elements, nor a Thrust vector; specialise strata::serializer<T> with save and load.");
  if constexpr (user_serializable<T>) return std::make_unique<detail::user_region<T>>(std::move(name), x);
  else if constexpr (thrust_device_range<T>)
    return std::make_unique<detail::device_range_region<T, thrust_device_vector<T>>>(std::move(name), x);
  else if constexpr (resizable_host_range<T>)
    return std::make_unique<detail::host_range_region<T, typename T::value_type, true>>(std::move(name), x);
  else if constexpr (fixed_host_range<T>)
    return std::make_unique<detail::host_range_region<T, detail::element_t<T>, false>>(std::move(name), x);
  else return std::make_unique<detail::value_region<T>>(std::move(name), x);
}

}  // namespace strata::state

namespace strata {
using state::device_span;  ///< raw device memory as a protectable range: `strata::device_span{ptr, n}`
}  // namespace strata
