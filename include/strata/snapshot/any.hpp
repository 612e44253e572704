#pragma once
/// \file
/// \brief `snapshot::any`: a snapshot strategy chosen at run time (a configuration file, a command line).

#include <strata/error.hpp>
#include <strata/snapshot/chained.hpp>
#include <strata/snapshot/concepts.hpp>
#include <strata/snapshot/device_blocks.hpp>
#include <strata/snapshot/full.hpp>
#include <strata/snapshot/index.hpp>
#include <strata/validation.hpp>

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

namespace strata::snapshot {

/// \brief Holds any snapshot strategy and behaves as it does: one checkpointer type for every
/// strategy (`strata::configured_checkpointer`).
///
/// It offers every optional capability the checkpointer looks for (chained, indexed, device-aware,
/// change measurement, `validate`), and says at run time whether the strategy it holds has it
/// (`chains()`, `indexes()`, `measures_change()`); the checkpointer then does what it does for that
/// strategy. Manifests record the held strategy's name (`runtime_name()`), so a checkpoint written
/// through `any` restores with the concrete type and the reverse. One virtual call per hook, at
/// most a few per checkpoint: none per byte.
///
/// \code
/// strata::snapshot::any s = strata::snapshot::incremental<16 * 1024>{.max_chain = 4};
/// strata::checkpointer<strata::comm::mpi, strata::snapshot::any> ckpt{MPI_COMM_WORLD, {.snapshot = s}};
/// \endcode
class any {
 public:
  /// Only for the `strategy` concept; manifests record `runtime_name()`.
  static constexpr std::string_view name = "any";

  /// \brief Holds `snapshot::full{}`.
  any() : any(full{}) {}
  /// \brief Holds a copy of `s`.
  template <class S>  // "not any" first: checking strategy<any> here would recurse through the copy constructor
    requires(!std::same_as<std::remove_cvref_t<S>, any> && strategy<S>)
  any(S s) : p_(std::make_unique<model<S>>(std::move(s))) {}  // NOLINT: implicit, like a value
  any(any const& o) : p_(o.p_->clone()) {}
  any(any&&) noexcept = default;
  any& operator=(any const& o) {
    if (this != &o) p_ = o.p_->clone();
    return *this;
  }
  any& operator=(any&&) noexcept = default;
  ~any() = default;

  /// \brief The held strategy's name ("full", "incremental", "compressed+incremental", ...).
  [[nodiscard]] std::string_view runtime_name() const noexcept { return p_->name(); }
  /// \brief The held strategy, if it is an `S` (else nullptr).
  template <class S>
  [[nodiscard]] S* target() noexcept {
    return p_->type() == typeid(S) ? static_cast<S*>(p_->get()) : nullptr;
  }
  template <class S>
  [[nodiscard]] S const* target() const noexcept {
    return p_->type() == typeid(S) ? static_cast<S const*>(p_->get()) : nullptr;
  }

  [[nodiscard]] encoded_shard encode(state::registry& reg, shard_id id) { return p_->encode(reg, id); }
  [[nodiscard]] std::vector<decoded_region> decode(std::span<const std::byte> shard, shard_id id, std::string const& where) {
    return p_->decode(shard, id, where);
  }
  /// \brief The held strategy's `validate()`, where it has one.
  void validate() const { p_->validate(); }

  /// \brief Whether the held strategy is `chained`; the chain members below do nothing (or
  /// return nothing) when it is not, which is what the checkpointer does without them.
  [[nodiscard]] bool chains() const noexcept { return p_->chains(); }
  [[nodiscard]] std::vector<std::uint64_t> depends_on() const { return p_->depends_on(); }
  [[nodiscard]] std::vector<decoded_region> decode_chain(std::span<const std::span<const std::byte>> shards,
                                                         std::span<const shard_id> ids, std::string const& where) {
    return p_->decode_chain(shards, ids, where);
  }
  /// \brief Whether the held strategy is `rebasing`; `wants_base` then asks it (else: false).
  [[nodiscard]] bool rebases() const noexcept { return p_->rebases(); }
  [[nodiscard]] bool wants_base(state::registry& reg) { return p_->wants_base(reg); }
  void committed(std::uint64_t v) { p_->committed(v); }
  void abandon(std::uint64_t v) { p_->abandon(v); }
  void reset() { p_->reset(); }
  void adopt_restored() { p_->adopt_restored(); }

  /// \brief Whether the held strategy is `indexed` (else the readers never ask for an index).
  [[nodiscard]] bool indexes() const noexcept { return p_->indexes(); }
  [[nodiscard]] shard_index read_index(std::span<const std::byte> head, shard_id id, std::string const& where) const {
    return p_->read_index(head, id, where);
  }
  [[nodiscard]] std::uint64_t hash_block(std::span<const std::byte> block) const { return p_->hash_block(block); }

  /// \brief Thrust data gets block work on its own system whatever strategy is chosen (unused by
  /// one that does not hash blocks on the device).
  static constexpr bool hashes_device_blocks = true;

  /// \brief Whether the held strategy reports how much changed (incremental, full, compressed); else the two below are 0.
  [[nodiscard]] bool measures_change() const noexcept { return p_->measures_change(); }
  [[nodiscard]] std::uint64_t last_dirty_bytes() const { return p_->last_dirty_bytes(); }
  [[nodiscard]] std::uint64_t last_protected_bytes() const { return p_->last_protected_bytes(); }

  /// \brief Same held type and equal values.
  friend bool operator==(any const& a, any const& b) { return a.p_->equals(*b.p_); }

 private:
  struct concept_t {
    virtual ~concept_t() = default;
    [[nodiscard]] virtual std::unique_ptr<concept_t> clone() const = 0;
    [[nodiscard]] virtual std::type_info const& type() const noexcept = 0;
    [[nodiscard]] virtual void* get() noexcept = 0;
    [[nodiscard]] virtual bool equals(concept_t const& o) const = 0;
    [[nodiscard]] virtual std::string_view name() const noexcept = 0;
    virtual encoded_shard encode(state::registry& reg, shard_id id) = 0;
    virtual std::vector<decoded_region> decode(std::span<const std::byte> shard, shard_id id, std::string const& where) = 0;
    virtual void validate() const = 0;
    [[nodiscard]] virtual bool chains() const noexcept = 0;
    virtual std::vector<std::uint64_t> depends_on() const = 0;
    virtual std::vector<decoded_region> decode_chain(std::span<const std::span<const std::byte>> shards,
                                                     std::span<const shard_id> ids, std::string const& where) = 0;
    [[nodiscard]] virtual bool rebases() const noexcept = 0;
    virtual bool wants_base(state::registry& reg) = 0;
    virtual void committed(std::uint64_t v) = 0;
    virtual void abandon(std::uint64_t v) = 0;
    virtual void reset() = 0;
    virtual void adopt_restored() = 0;
    [[nodiscard]] virtual bool indexes() const noexcept = 0;
    virtual shard_index read_index(std::span<const std::byte> head, shard_id id, std::string const& where) const = 0;
    virtual std::uint64_t hash_block(std::span<const std::byte> block) const = 0;
    [[nodiscard]] virtual bool measures_change() const noexcept = 0;
    virtual std::uint64_t last_dirty_bytes() const = 0;
    virtual std::uint64_t last_protected_bytes() const = 0;
  };

  template <class S>
  struct model final : concept_t {
    S s;
    explicit model(S x) : s(std::move(x)) {}
    std::unique_ptr<concept_t> clone() const override { return std::make_unique<model>(s); }
    std::type_info const& type() const noexcept override { return typeid(S); }
    void* get() noexcept override { return &s; }
    bool equals(concept_t const& o) const override {
      if (o.type() != typeid(S)) return false;
      if constexpr (std::equality_comparable<S>) return s == static_cast<model const&>(o).s;
      else return false;
    }
    std::string_view name() const noexcept override { return snapshot::name_of(s); }
    encoded_shard encode(state::registry& reg, shard_id id) override { return s.encode(reg, id); }
    std::vector<decoded_region> decode(std::span<const std::byte> shard, shard_id id, std::string const& where) override {
      return s.decode(shard, id, where);
    }
    void validate() const override {
      if constexpr (validating<S>) s.validate();
    }
    bool chains() const noexcept override { return chained<S>; }
    std::vector<std::uint64_t> depends_on() const override {
      if constexpr (chained<S>) return s.depends_on();
      else return {};
    }
    std::vector<decoded_region> decode_chain(std::span<const std::span<const std::byte>> shards,
                                             std::span<const shard_id> ids, std::string const& where) override {
      if constexpr (chained<S>) return s.decode_chain(shards, ids, where);
      else {
        // Readers ask only a strategy that chains (applies_chains); a chain of one is just the shard.
        if (shards.size() != 1 || ids.size() != 1)
          throw error(where + ": depends on older versions, which this snapshot strategy cannot apply");
        return s.decode(shards[0], ids[0], where);
      }
    }
    bool rebases() const noexcept override { return rebasing<S>; }
    bool wants_base([[maybe_unused]] state::registry& reg) override {
      if constexpr (rebasing<S>) return s.wants_base(reg);
      else return false;
    }
    void committed([[maybe_unused]] std::uint64_t v) override {
      if constexpr (chained<S>) s.committed(v);
    }
    void abandon([[maybe_unused]] std::uint64_t v) override {
      if constexpr (chained<S>) s.abandon(v);
    }
    void reset() override {
      if constexpr (chained<S>) s.reset();
    }
    void adopt_restored() override {
      if constexpr (chained<S>) s.adopt_restored();
    }
    bool indexes() const noexcept override { return indexed<S>; }
    shard_index read_index([[maybe_unused]] std::span<const std::byte> head, [[maybe_unused]] shard_id id,
                           std::string const& where) const override {
      if constexpr (indexed<S>) return s.read_index(head, id, where);
      else throw error(where + ": snapshot strategy '" + std::string(name()) + "' writes no index");
    }
    std::uint64_t hash_block([[maybe_unused]] std::span<const std::byte> block) const override {
      if constexpr (indexed<S>) return s.hash_block(block);
      else throw error("snapshot strategy '" + std::string(name()) + "' hashes no blocks");
    }
    bool measures_change() const noexcept override { return snapshot::measures_change(s); }
    std::uint64_t last_dirty_bytes() const override {
      if constexpr (requires { s.last_dirty_bytes(); }) return s.last_dirty_bytes();
      else return 0;
    }
    std::uint64_t last_protected_bytes() const override {
      if constexpr (requires { s.last_protected_bytes(); }) return s.last_protected_bytes();
      else return 0;
    }
  };

  std::unique_ptr<concept_t> p_;
};

static_assert(strategy<any>);
static_assert(chained<any>);
static_assert(indexed<any>);
static_assert(device_aware<any>);
static_assert(rebasing<any>);

}  // namespace strata::snapshot
