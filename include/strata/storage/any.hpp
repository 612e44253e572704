#pragma once
/// \file
/// \brief `storage::any<Comm>`: a storage driver chosen at run time (a configuration file, a command line).

#include <strata/comm/concepts.hpp>
#include <strata/comm/mpi.hpp>
#include <strata/error.hpp>
#include <strata/storage/alone.hpp>
#include <strata/storage/concepts.hpp>
#include <strata/storage/multilevel.hpp>
#include <strata/storage/posix_dir.hpp>
#include <strata/validation.hpp>

#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

namespace strata::storage {

/// \brief Holds any storage driver for `Comm` and behaves as it does: one checkpointer type for every
/// driver (`strata::configured_checkpointer`).
///
/// It offers every optional member the checkpointer and the restore path look for, and each does
/// what the checkpointer does when the held driver lacks it: `flushed(v)` is false, `settle` reports
/// no flush, `recover` does nothing (or calls the one-argument form the driver has),
/// `read_shard_part` reads the whole shard and copies the part (as the reader does for a driver
/// without it), `served_by` is empty, and `replicates_commits()` tells the checkpointer whether to
/// send commit records to every rank. Manifests record the held driver's name (`runtime_name()`).
///
/// \code
/// strata::storage::any<> s = strata::storage::multilevel<strata::storage::posix_dir, strata::storage::posix_dir,
///                                                        strata::storage::flush_interval_at_run_time>{.flush_every = 2};
/// strata::checkpointer<strata::comm::mpi, strata::snapshot::full, strata::storage::any<>> ckpt{MPI_COMM_WORLD, {.storage = s}};
/// \endcode
template <comm::communicator Comm = comm::mpi>
class any {
 public:
  /// Only for the `driver` concept; manifests record `runtime_name()`.
  static constexpr std::string_view name = "any";
  /// What storage that repairs shards at restore is told of each version (`recover`).
  using expectation_reader = std::function<std::optional<version_expectation>(std::uint64_t)>;
  using sayer = std::function<void(std::string const&, bool)>;

  /// \brief Holds `storage::posix_dir{}`.
  any() : any(posix_dir{}) {}
  /// \brief Holds a copy of `s`.
  template <class S>
    requires(!std::same_as<std::remove_cvref_t<S>, any> && driver<S, Comm>)
  any(S s) : p_(std::make_unique<model<S>>(std::move(s))) {}  // NOLINT: implicit, like a value
  any(any const& o) : p_(o.p_->clone()) {}
  any(any&&) noexcept = default;
  any& operator=(any const& o) {
    if (this != &o) p_ = o.p_->clone();
    return *this;
  }
  any& operator=(any&&) noexcept = default;
  ~any() = default;

  /// \brief The held driver's name ("posix_dir", "multilevel", ...).
  [[nodiscard]] std::string_view runtime_name() const noexcept { return p_->name(); }
  /// \brief The held driver, if it is an `S` (else nullptr).
  template <class S>
  [[nodiscard]] S* target() noexcept {
    return p_->type() == typeid(S) ? static_cast<S*>(p_->get()) : nullptr;
  }
  template <class S>
  [[nodiscard]] S const* target() const noexcept {
    return p_->type() == typeid(S) ? static_cast<S const*>(p_->cget()) : nullptr;
  }

  void attach(Comm const& c, std::filesystem::path const& dir) { p_->attach(c, dir); }
  void write_shard(std::uint64_t v, snapshot::encoded_shard const& shard) { p_->write_shard(v, shard); }
  [[nodiscard]] byte_buffer read_shard(std::uint64_t v, int rank) const { return p_->read_shard(v, rank); }
  void read_shard_part(std::uint64_t v, int rank, std::uint64_t offset, std::span<std::byte> out) const {
    p_->read_shard_part(v, rank, offset, out);
  }
  void remove_shard(std::uint64_t v, int rank) { p_->remove_shard(v, rank); }
  void write_commit(std::uint64_t v, std::string_view text) { p_->write_commit(v, text); }
  [[nodiscard]] std::optional<std::string> read_commit(std::uint64_t v) const { return p_->read_commit(v); }
  void remove_commit(std::uint64_t v) { p_->remove_commit(v); }
  void remove_version(std::uint64_t v) { p_->remove_version(v); }
  [[nodiscard]] listing list() const { return p_->list(); }
  [[nodiscard]] std::optional<std::uint64_t> free_bytes() const { return p_->free_bytes(); }
  [[nodiscard]] std::string shard_location(std::uint64_t v, int rank) const { return p_->shard_location(v, rank); }
  [[nodiscard]] std::string commit_location(std::uint64_t v) const { return p_->commit_location(v); }
  /// \brief The held driver's `validate()`, where it has one.
  void validate() const { p_->validate(); }

  /// \brief Whether version `v` also goes to a slower level (`multilevel`); false for other drivers.
  [[nodiscard]] bool flushed(std::uint64_t v) const noexcept { return p_->flushed(v); }
  /// \brief A background flush settled (`multilevel`); an empty report for other drivers.
  flush_report settle(Comm const& c, bool wait) { return p_->settle(c, wait); }
  /// \brief Whether the held driver keeps commit records on every rank (`replicate_commit`).
  [[nodiscard]] bool replicates_commits() const noexcept { return p_->replicates_commits(); }
  void replicate_commit(std::uint64_t v, std::string_view text) { p_->replicate_commit(v, text); }
  /// \brief The held driver's repair at restore: `recover(c, expect, say)`, else `recover(c)`, else nothing.
  void recover(Comm const& c, expectation_reader expect, sayer say) { p_->recover(c, std::move(expect), std::move(say)); }
  /// \brief How each rank's shard was found by the last restore (node-local levels; else empty).
  [[nodiscard]] std::vector<std::string> const& served_by() const noexcept { return p_->served_by(); }
  // Writing alone (consistency::eventual): what the held driver does (strata/storage/alone.hpp).
  void open_alone() { p_->open_alone(); }
  [[nodiscard]] std::string why_not_alone() const { return p_->why_not_alone(); }
  void write_own_shard(std::uint64_t v, snapshot::encoded_shard const& shard) { p_->write_own_shard(v, shard); }
  void progress(alone::sayer const& say) { p_->progress(say); }
  void drain(alone::sayer const& say) { p_->drain(say); }
  [[nodiscard]] std::vector<int> commit_replicas() const { return p_->commit_replicas(); }

  /// \brief Same held type and equal values.
  friend bool operator==(any const& a, any const& b) { return a.p_->equals(*b.p_); }

 private:
  struct concept_t {
    virtual ~concept_t() = default;
    [[nodiscard]] virtual std::unique_ptr<concept_t> clone() const = 0;
    [[nodiscard]] virtual std::type_info const& type() const noexcept = 0;
    [[nodiscard]] virtual void* get() noexcept = 0;
    [[nodiscard]] virtual void const* cget() const noexcept = 0;
    [[nodiscard]] virtual bool equals(concept_t const& o) const = 0;
    [[nodiscard]] virtual std::string_view name() const noexcept = 0;
    virtual void attach(Comm const& c, std::filesystem::path const& dir) = 0;
    virtual void write_shard(std::uint64_t v, snapshot::encoded_shard const& shard) = 0;
    virtual byte_buffer read_shard(std::uint64_t v, int rank) const = 0;
    virtual void read_shard_part(std::uint64_t v, int rank, std::uint64_t offset, std::span<std::byte> out) const = 0;
    virtual void remove_shard(std::uint64_t v, int rank) = 0;
    virtual void write_commit(std::uint64_t v, std::string_view text) = 0;
    virtual std::optional<std::string> read_commit(std::uint64_t v) const = 0;
    virtual void remove_commit(std::uint64_t v) = 0;
    virtual void remove_version(std::uint64_t v) = 0;
    virtual listing list() const = 0;
    virtual std::optional<std::uint64_t> free_bytes() const = 0;
    virtual std::string shard_location(std::uint64_t v, int rank) const = 0;
    virtual std::string commit_location(std::uint64_t v) const = 0;
    virtual void validate() const = 0;
    [[nodiscard]] virtual bool flushed(std::uint64_t v) const noexcept = 0;
    virtual flush_report settle(Comm const& c, bool wait) = 0;
    [[nodiscard]] virtual bool replicates_commits() const noexcept = 0;
    virtual void replicate_commit(std::uint64_t v, std::string_view text) = 0;
    virtual void recover(Comm const& c, expectation_reader expect, sayer say) = 0;
    [[nodiscard]] virtual std::vector<std::string> const& served_by() const noexcept = 0;
    virtual void open_alone() = 0;
    [[nodiscard]] virtual std::string why_not_alone() const = 0;
    virtual void write_own_shard(std::uint64_t v, snapshot::encoded_shard const& shard) = 0;
    virtual void progress(alone::sayer const& say) = 0;
    virtual void drain(alone::sayer const& say) = 0;
    [[nodiscard]] virtual std::vector<int> commit_replicas() const = 0;
  };

  template <class S>
  struct model final : concept_t {
    S s;
    explicit model(S x) : s(std::move(x)) {}
    std::unique_ptr<concept_t> clone() const override { return std::make_unique<model>(s); }
    std::type_info const& type() const noexcept override { return typeid(S); }
    void* get() noexcept override { return &s; }
    void const* cget() const noexcept override { return &s; }
    bool equals(concept_t const& o) const override {
      if (o.type() != typeid(S)) return false;
      if constexpr (std::equality_comparable<S>) return s == static_cast<model const&>(o).s;
      else return false;
    }
    std::string_view name() const noexcept override { return storage::name_of(s); }
    void attach(Comm const& c, std::filesystem::path const& dir) override { s.attach(c, dir); }
    void write_shard(std::uint64_t v, snapshot::encoded_shard const& shard) override { s.write_shard(v, shard); }
    byte_buffer read_shard(std::uint64_t v, int rank) const override { return s.read_shard(v, rank); }
    void read_shard_part(std::uint64_t v, int rank, std::uint64_t offset, std::span<std::byte> out) const override {
      if constexpr (partial_reader<S>) {
        s.read_shard_part(v, rank, offset, out);
      } else {  // what the shard reader does with a driver that cannot read less
        byte_buffer const b = s.read_shard(v, rank);
        if (offset > b.size() || out.size() > b.size() - offset)
          throw error(s.shard_location(v, rank) + ": " + std::to_string(b.size()) + " bytes, bytes [" +
                      std::to_string(offset) + ", +" + std::to_string(out.size()) + ") asked (truncated)");
        if (!out.empty()) std::memcpy(out.data(), b.data() + offset, out.size());
      }
    }
    void remove_shard(std::uint64_t v, int rank) override { s.remove_shard(v, rank); }
    void open_alone() override { alone::open(s); }
    std::string why_not_alone() const override { return alone::why_not(s); }
    void write_own_shard(std::uint64_t v, snapshot::encoded_shard const& shard) override { alone::write(s, v, shard); }
    void progress(alone::sayer const& say) override { alone::progress(s, say); }
    void drain(alone::sayer const& say) override { alone::drain(s, say); }
    std::vector<int> commit_replicas() const override { return alone::commit_replicas(s); }
    void write_commit(std::uint64_t v, std::string_view text) override { s.write_commit(v, text); }
    std::optional<std::string> read_commit(std::uint64_t v) const override { return s.read_commit(v); }
    void remove_commit(std::uint64_t v) override { s.remove_commit(v); }
    void remove_version(std::uint64_t v) override { s.remove_version(v); }
    listing list() const override { return s.list(); }
    std::optional<std::uint64_t> free_bytes() const override { return s.free_bytes(); }
    std::string shard_location(std::uint64_t v, int rank) const override { return s.shard_location(v, rank); }
    std::string commit_location(std::uint64_t v) const override { return s.commit_location(v); }
    void validate() const override {
      if constexpr (validating<S>) s.validate();
    }
    bool flushed([[maybe_unused]] std::uint64_t v) const noexcept override {
      if constexpr (requires { s.flushed(v); }) return s.flushed(v);
      else return false;
    }
    flush_report settle([[maybe_unused]] Comm const& c, [[maybe_unused]] bool wait) override {
      if constexpr (requires { s.settle(c, wait); }) return s.settle(c, wait);
      else return {};
    }
    bool replicates_commits() const noexcept override { return storage::replicates_commits(s); }
    void replicate_commit([[maybe_unused]] std::uint64_t v, [[maybe_unused]] std::string_view text) override {
      if constexpr (requires { s.replicate_commit(v, text); }) s.replicate_commit(v, text);
    }
    void recover([[maybe_unused]] Comm const& c, [[maybe_unused]] expectation_reader expect,
                 [[maybe_unused]] sayer say) override {
      if constexpr (requires { s.recover(c, std::move(expect), std::move(say)); })
        s.recover(c, std::move(expect), std::move(say));
      else if constexpr (requires { s.recover(c); })
        s.recover(c);
    }
    std::vector<std::string> const& served_by() const noexcept override {
      if constexpr (requires { s.served_by(); }) return s.served_by();
      else {
        static std::vector<std::string> const none;
        return none;
      }
    }
  };

  std::unique_ptr<concept_t> p_;
};

static_assert(driver<any<>, comm::mpi>);
static_assert(partial_reader<any<>>);

}  // namespace strata::storage
