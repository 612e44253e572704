#pragma once
/// \file
/// \brief `strata::checkpointer`: protect state, checkpoint it when the trigger says, restore it.
///
/// This header holds the handle and its options; the implementation (the commit and restore
/// paths) is `checkpoint/detail/checkpointer_core.hpp`, whose definitions are included at the end
/// (header-only, the default) or compiled once in the program's `strata/src.hpp` translation unit
/// (STRATA_SEPARATE_COMPILATION, see strata/config.hpp): then a file that checkpoints parses no
/// commit path, no JSON and no storage internals.

#include <strata/checkpoint/log_entry.hpp>
#include <strata/checkpoint/options.hpp>
#include <strata/checkpoint/retention.hpp>
#include <strata/checkpoint/state_agreement.hpp>
#include <strata/comm/concepts.hpp>
#include <strata/comm/mpi.hpp>
#include <strata/comm/solo.hpp>
#include <strata/config.hpp>
#include <strata/consistency/coordinated.hpp>
#include <strata/error.hpp>
#include <strata/snapshot/chained.hpp>
#include <strata/snapshot/full.hpp>
#include <strata/state/contiguous.hpp>
#include <strata/state/layout.hpp>
#include <strata/state/region.hpp>
#include <strata/storage/posix_dir.hpp>
#include <strata/trigger/every_n.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace strata {

template <comm::communicator Comm, snapshot::strategy Snapshot, class Storage, consistency::protocol Consistency,
          trigger::policy Trigger, retention::policy Retention>
class checkpointer_core;

namespace metrics {
class registry;
}

namespace checkpoint::detail {
/// A contiguous view of const elements (`std::span<const T>`, `std::string_view`): protected, only the
/// view itself would be saved and restored.
template <class T>
concept view_of_const = !user_serializable<T> && state::detail::contiguous_sized<T> &&
    std::is_const_v<state::detail::element_t<T>>;

/// Whether the checkpointer's member definitions (checkpoint/impl/checkpointer.ipp) are visible where
/// a checkpointer type is used: found by argument-dependent lookup when the class is instantiated,
/// so the overload that says yes, declared in that file, counts wherever it was included first.
template <class T>
struct definitions_tag {};
template <class T>
constexpr bool definitions_visible(definitions_tag<T>, long) {
  return false;
}
}  // namespace checkpoint::detail

/// \brief Checkpoints the protected state of every rank of `Comm`, composed from policies.
///
/// \code
/// strata::comm::mpi_environment env{argc, argv};
/// strata::checkpointer<> ckpt{MPI_COMM_WORLD, {.directory = "ckpt", .trigger = {.n = 100}}};
/// thrust::device_vector<double> u(n);
/// std::uint64_t step = 0;
/// ckpt.protect("u", u);
/// ckpt.protect("step", step);
/// if (auto v = ckpt.restore_latest()) std::printf("resumed from version %llu\n", *v);
/// while (step < steps) { advance(u); ++step; ckpt.step(step); }
/// ckpt.wait();   // with .async = true: drain the background writer (collective)
/// \endcode
///
/// With `.preemption` (on by default: SIGTERM, SIGUSR1), a caught signal makes the next `step()`
/// checkpoint on every rank and then `stop_requested()` true (or, by option, end the process).
///
/// With `.async = true`, `step()`/`checkpoint()` return once the state is staged into host memory
/// (double-buffered, encoded while staging); writing, verifying and the commit protocol run on a background thread with a communicator of its own. See
/// `checkpoint/async_writer.hpp` for what happens when the writer falls behind.
template <comm::communicator Comm = comm::mpi, snapshot::strategy Snapshot = snapshot::full,
          class Storage = storage::posix_dir, consistency::protocol Consistency = consistency::coordinated,
          trigger::policy Trigger = trigger::every_n, retention::policy Retention = retention::keep_last<>>
class checkpointer {
  static_assert(storage::driver<Storage, Comm>,
                "strata::checkpointer: the Storage policy does not model strata::storage::driver (see "
                "strata/storage/concepts.hpp for the members it needs)");
  using core_type = checkpointer_core<Comm, Snapshot, Storage, Consistency, Trigger, Retention>;
#if defined(STRATA_SEPARATE_COMPILATION)
  static_assert(std::is_same_v<checkpointer, checkpointer<comm::mpi>> || std::is_same_v<checkpointer, checkpointer<comm::solo>> ||
                    definitions_visible(checkpoint::detail::definitions_tag<Comm>{}, 0),  // unqualified: ADL
                "strata::checkpointer: with STRATA_SEPARATE_COMPILATION only checkpointer<comm::mpi> and "
                "checkpointer<comm::solo> are compiled (in strata/src.hpp); include "
                "<strata/checkpoint/definitions.hpp> in the files that use another checkpointer type");
#endif

 public:
  using comm_type = Comm;
  using snapshot_type = Snapshot;
  using storage_type = Storage;
  using consistency_type = Consistency;
  using trigger_type = Trigger;
  using retention_type = Retention;
  /// \brief See `checkpoint::basic_options`: the members, their order and their checks.
  using options = checkpoint::basic_options<Snapshot, Storage, Consistency, Trigger, Retention>;

  /// \brief Collective: prepares the directory on every rank; if any rank cannot use it, every rank throws.
  checkpointer(Comm comm, options opt = {});
  /// \brief Drains the background writer; a failure it had not yet reported is logged (never thrown).
  ///
  /// Storage that flushes to a slow level in the background (`storage::multilevel`) is settled here
  /// (collective): the last flush is committed there unless the checkpointer is destroyed while an
  /// exception propagates; call `wait()` first to see a failure as an exception.
  ~checkpointer();
  checkpointer(checkpointer const&) = delete;
  checkpointer& operator=(checkpointer const&) = delete;

  /// \brief Protects `x` under `name` (trivially copyable values, contiguous ranges, Thrust vectors
  /// of any system, user types with `strata::serializer<T>`). `x` must outlive the checkpointer.
  ///
  /// `how` says how the region relates to other ranks: `strata::per_rank` (default),
  /// `strata::replicated` (same value everywhere) or `strata::distributed{...}` (a block of a
  /// global index space). Only a checkpoint whose regions are all replicated or distributed can
  /// be restored on another number of ranks.
  template <class T>
  void protect(std::string name, T& x, state::layout how = {}) {
    static_assert(!std::is_const_v<T>,
                  "strata::checkpointer::protect: cannot protect a const object (a restore writes into it); "
                  "protect a non-const object");
    static_assert(std::is_const_v<T> || !checkpoint::detail::view_of_const<T>,
                  "strata::checkpointer::protect: cannot protect a view of const elements (a restore writes "
                  "into them); protect the container that owns them, or a view of non-const elements");
    if constexpr (!std::is_const_v<T> && !checkpoint::detail::view_of_const<T>) {
      bool const range = state::resizable_host_range<T> || state::fixed_host_range<T> || state::thrust_device_range<T>;
      auto r = state::make_region(name, x);
      // Thrust data, for a strategy that hashes blocks: hashed and gathered on its own system.
      if constexpr (!strata::user_serializable<T> && state::thrust_device_range<T> && snapshot::device_aware<Snapshot>)
        snapshot::attach_device_blocks(*r, x);
      protect_region(std::move(name), std::move(r), range, how);
    }
  }
  /// \brief Protects `count` elements of raw device memory at `p`, a Thrust pointer
  /// (`thrust::device_pointer_cast(q)` for memory from `cudaMalloc`; `thrust::pointer<T, System>` for
  /// another system's): a fixed-size region, restored in place. The memory must outlive the checkpointer.
  template <class Ptr>
    requires state::detail::thrust_pointer<Ptr>
  void protect(std::string name, Ptr p, std::size_t count, state::layout how = {}) {
    using span_t = state::device_span<Ptr>;
    static_assert(std::is_trivially_copyable_v<typename span_t::value_type>,
                  "strata::checkpointer::protect: device memory must hold trivially copyable elements");
    auto r = std::make_unique<state::detail::device_range_region<span_t, false>>(name, span_t{p, count});
    if constexpr (snapshot::device_aware<Snapshot>) snapshot::attach_device_blocks(*r, r->range());
    protect_region(std::move(name), std::move(r), true, how);
  }
  /// \brief Stops protecting `name`.
  bool unprotect(std::string const& name);
  /// \brief Declares the new block of a distributed region (after load balancing moved it).
  void redistribute(std::string const& name, distributed block);

  /// \brief Tells the checkpointer that step `i` is complete; checkpoints if the trigger says so, or
  /// if a pre-emption signal reached any rank: then `stop_requested()` is true afterwards (with
  /// `.preemption.on_signal = exit` the process ends here instead). Collective when the trigger needs
  /// agreement or pre-emption is checked at this step. \returns whether a checkpoint was taken.
  bool step(std::uint64_t i);
  /// \brief Whether a pre-emption signal was caught and its checkpoint committed: end the loop.
  [[nodiscard]] bool stop_requested() const noexcept;
  /// \brief The pre-emption that stopped the run (signal, rank, step, version), if one did.
  [[nodiscard]] std::optional<preemption::event> const& preempted() const noexcept;

  /// \brief Collective: checkpoints now, whatever the trigger says. \returns the version: committed
  /// (synchronous), or staged and queued ahead of any periodic one (async; `wait()` to see it committed).
  /// \throws checkpoint_error on every rank if any rank fails; the previous version stays intact.
  std::uint64_t checkpoint();
  /// \brief Collective: restores the newest version every rank holds complete and valid.
  /// Falls back to older versions with a warning; returns nullopt when the directory holds none.
  /// \throws restore_error when versions exist but none can be used, or the newest was written by
  /// another number of ranks, or a protected name or type does not match (state is untouched then).
  std::optional<std::uint64_t> restore_latest();
  /// \brief Collective, with `.replay_log`: `restore_latest()`, then `replay(entry)` on each rank for
  /// every entry it appended after that version (after the start when there is none), in index
  /// order. A restore killed during the replay and redone starts again from the version: each entry
  /// is applied once to the state the run goes on with. `restore(version)` replays nothing: it keeps
  /// the later entries in `rank-<R>.wal.branch-<version>` and the log goes on from the version.
  /// \throws restore_error on every rank when a rank's log cannot be replayed (entries dropped by a
  /// newer version that could not be restored; damage; `replay` threw) or, from `restore_latest()`
  /// without a replay function, when a rank's log holds entries after the version.
  std::optional<std::uint64_t> restore_latest(checkpoint::log_replayer replay);
  /// \brief Appends `entry` to this rank's application log (`.replay_log`; not collective); it is
  /// durable per `.log_fsync` when this returns. \returns its index (consecutive on each rank).
  std::uint64_t append_log(std::span<const std::byte> entry);
  /// \brief `append_log` of a trivially copyable value's bytes (read back with `log_entry::as<T>()`).
  template <class T>
    requires std::is_trivially_copyable_v<T> && (!std::is_convertible_v<T const&, std::span<const std::byte>>)
  std::uint64_t append_log(T const& value) {
    return append_log(std::span<const std::byte>(reinterpret_cast<std::byte const*>(&value), sizeof(T)));
  }
  /// \brief Collective: compares `digest`, of state the application keeps equal on every rank, across
  /// the ranks (`what` names it in messages; the regions protected `strata::replicated` are compared
  /// and repaired by every restore). \returns the ranks that differ from the majority, and a rank
  /// holding the majority's value, to repair from. \throws restore_error on every rank when no value
  /// is held by a majority.
  checkpoint::state_agreement compare_state(std::uint64_t digest, std::string const& what = "the state digest");
  /// \brief Collective: restores exactly `version` (rolling back); later checkpoints start a new branch.
  std::uint64_t restore(std::uint64_t version);
  /// \brief Collective: drains pending work. Async: returns once every queued version is committed;
  /// throws `checkpoint_error` on every rank if one failed. A background flush to a slow level
  /// (`storage::multilevel`) is waited for and committed there; one that failed is logged (the
  /// version stays on the fast level).
  void wait();

  /// \brief The checkpointer's metrics (SPEC O3): `.metrics`, or a registry of its own.
  [[nodiscard]] strata::metrics::registry& metrics() noexcept;
  /// \brief Rank 0: rewrites `.metrics_file` now (nothing without one, or on other ranks); a failure is logged.
  void write_metrics();
  /// \brief Versions committed in the directory, ascending (as this rank sees them).
  [[nodiscard]] std::vector<std::uint64_t> versions() const;
  /// \brief The version restored or last committed by this checkpointer.
  [[nodiscard]] std::optional<std::uint64_t> current_version() const;
  /// \brief Figures of the last checkpoint (async: staging figures at once, write figures once committed).
  [[nodiscard]] checkpoint_stats last_stats() const;
  /// \brief Whether checkpoints are written in the background.
  [[nodiscard]] bool asynchronous() const noexcept;
  [[nodiscard]] std::uint64_t last_step() const noexcept;
  [[nodiscard]] Comm const& communicator() const noexcept;
  [[nodiscard]] options const& settings() const noexcept;
  [[nodiscard]] Storage& storage() noexcept;
  [[nodiscard]] Snapshot& snapshot_policy() noexcept;
  [[nodiscard]] Trigger& trigger_policy() noexcept;

 private:
  void protect_region(std::string name, std::unique_ptr<state::region> r, bool range, state::layout how);

  std::unique_ptr<core_type> core_;
};

}  // namespace strata

#if defined(STRATA_SEPARATE_COMPILATION)
namespace strata {
// Compiled once, in the translation unit that includes <strata/src.hpp>. Another checkpointer type
// needs <strata/checkpoint/definitions.hpp> in the files that use it.
extern template class checkpointer<comm::mpi>;
extern template class checkpointer<comm::solo>;
}  // namespace strata
#else
#include <strata/checkpoint/impl/checkpointer.ipp>
#endif
