#pragma once
/// \file
/// \brief `storage::multilevel<Fast, Slow, K>`: every version to a fast level, every K-th also to a
/// slow one, in the background.

#include <strata/comm/agree.hpp>
#include <strata/error.hpp>
#include <strata/storage/alone.hpp>
#include <strata/storage/concepts.hpp>
#include <strata/storage/fault_points.hpp>
#include <strata/validation.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace strata::storage {

/// \brief What `multilevel::settle` found of a background flush.
struct flush_report {
  std::optional<std::uint64_t> version;  ///< the version whose flush was looked at (none: no flush pending)
  bool committed = false;                ///< its commit record is now on the slow level
  bool waited = false;                   ///< this rank had to wait for its copy to finish
  double seconds = 0;                    ///< how long this rank's copy took
  std::string failure;                   ///< why it was given up (empty: committed, or still in flight)
};

/// \brief As `K` of `multilevel<Fast, Slow, K>`: the flush interval is the member `flush_every`, set at
/// run time (a configuration file, `storage::any`) rather than in the type.
inline constexpr std::uint64_t flush_interval_at_run_time = std::numeric_limits<std::uint64_t>::max();

/// \brief Writes every version to `Fast` (node-local disk, partner memory) and every version
/// divisible by `K` also to `Slow` (the shared file system). Reads take the fast copy and fall back
/// to the slow one; listings are the union, so restore takes the newest version valid on any level.
/// `Fast` lives in `DIR/fast` (when it uses a directory), `Slow` in `DIR`.
///
/// **Background flush.** When `Slow` writes without a communicator (`Slow::independent_writes`, as
/// `posix_dir`) and `background` is on (default), the copy to `Slow` runs on a thread of its own: a
/// checkpoint waits for the fast level and for a copy of the shard in memory, not for the parallel
/// file system. The version is committed on `Slow` (its record written there) once every rank's copy
/// is durable, which the checkpointer learns at a later collective point (`settle`): the next commit,
/// `wait()`, a restore or its destructor. A flush still running when the next flushed version comes
/// is waited for then, so one flush at most is in flight. A flush that fails, or a job killed before
/// it is settled, leaves the slow level's previous versions as they were: the version stays on the
/// fast level only, and its partial copy is removed.
///
/// **Retention per level.** The retention policy decides for the fast level; the slow level keeps its
/// newest `keep_flushed` committed versions (at least 1) even when the policy retires them from the
/// fast one, so that a lost node can always fall back to the shared copy. Flushed versions start a
/// new incremental chain (the checkpointer resets chained snapshots on them), so a version kept on
/// `Slow` never depends on one held only by `Fast`.
///
/// With `K = flush_interval_at_run_time` the interval is `flush_every` (default 4), a value like the others.
///
/// \code
/// using store = strata::storage::multilevel<strata::storage::node_local, strata::storage::posix_dir, 4>;
/// strata::checkpointer<strata::comm::mpi, strata::snapshot::full, store> ckpt{
///     MPI_COMM_WORLD, {.directory = "/shared/job42", .storage = {.fast = {.path = "/local/job42"}}}};
/// \endcode
template <class Fast, class Slow, std::uint64_t K = 4>
struct multilevel {
  static_assert(K >= 1, "storage::multilevel<Fast, Slow, K>: K (flush every K-th version to Slow) must be at least 1");
  static constexpr std::string_view name = "multilevel";
  /// Whether `Slow` may be written on a thread of its own (it says so with `independent_writes`).
  static constexpr bool can_flush_in_background = requires { requires Slow::independent_writes; };
  Fast fast{};
  Slow slow{};
  bool background = true;        ///< flush to `Slow` on a thread of its own (when `can_flush_in_background`)
  std::size_t keep_flushed = 2;  ///< newest committed versions `Slow` keeps whatever the retention policy says
  /// Every `flush_every`-th version also goes to `Slow`: `K`, unless `K = flush_interval_at_run_time`
  /// (then any value from 1; with another `K` it must stay `K`).
  std::uint64_t flush_every = K == flush_interval_at_run_time ? 4 : K;

  /// \brief Refuses `flush_every = 0`, or one that differs from a `K` fixed in the type.
  void validate() const {
    if constexpr (K == flush_interval_at_run_time)
      strata::detail::require_at_least("multilevel", "flush_every", flush_every, 1);
    else
      strata::detail::require(flush_every == K, "multilevel", "flush_every", std::to_string(flush_every),
                              "differs from K = " + std::to_string(K) + " of its type; use K = "
                              "storage::flush_interval_at_run_time to choose the interval at run time");
  }

  template <comm::communicator Comm>
  void attach(Comm const& comm, std::filesystem::path const& dir) {
    static_assert(driver<Fast, Comm> && driver<Slow, Comm>,
                  "storage::multilevel<Fast, Slow, K>: both levels must model strata::storage::driver");
    if (keep_flushed == 0)
      throw usage_error("storage::multilevel: keep_flushed = 0 would let retention remove every version from the "
                        "slow level; it must be at least 1");
    rank_ = comm.rank();
    fl_ = std::make_shared<flusher>();
    fast.attach(comm, dir / "fast");
    slow.attach(comm, dir);
  }
  /// \brief Whether version `v` also goes to `Slow` (static unless the interval is set at run time).
  [[nodiscard]] static constexpr bool flushed(std::uint64_t v) noexcept
    requires(K != flush_interval_at_run_time)
  {
    return v % K == 0;
  }
  [[nodiscard]] constexpr bool flushed(std::uint64_t v) const noexcept
    requires(K == flush_interval_at_run_time)
  {
    return flush_every != 0 && v % flush_every == 0;
  }
  /// \brief Whether flushes run in the background in this configuration.
  [[nodiscard]] bool flushes_in_background() const noexcept { return can_flush_in_background && background; }

  void write_shard(std::uint64_t v, snapshot::encoded_shard const& shard) {
    fast.write_shard(v, shard);
    if (!flushed(v)) return;
    if (!flushes_in_background()) {
      slow.write_shard(v, shard);
      return;
    }
    auto& f = *fl_;
    if (f.pending)
      throw checkpoint_error("storage::multilevel: version " + std::to_string(v) + " is written while the flush of version " +
                             std::to_string(*f.pending) + " to the slow level is not settled (settle() comes first)");
    f.join();
    f.bytes.resize(static_cast<std::size_t>(shard.bytes()));
    std::size_t off = 0;
    for (auto seg : shard.segments) {
      if (!seg.empty()) std::memcpy(f.bytes.data() + off, seg.data(), seg.size());
      off += seg.size();
    }
    f.pending = v;
    f.record.reset();
    f.error.clear();
    f.done.store(false, std::memory_order_relaxed);
    f.thread = std::thread([&f, to = slow, v, rank = rank_, index = shard.index_bytes]() mutable {
      auto const t0 = std::chrono::steady_clock::now();
      try {
        fault::point(fault_points::flushing, rank, v);
        snapshot::encoded_shard copy;
        copy.segments.assign(1, std::span<const std::byte>(f.bytes));
        copy.index_bytes = index;
        to.write_shard(v, copy);
      } catch (std::exception const& e) {
        f.error = "rank " + std::to_string(rank) + ": " + e.what();
      }
      f.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      f.done.store(true, std::memory_order_release);
    });
  }

  /// \brief Why this pair cannot write a shard without the other ranks (consistency::eventual): the
  /// fast level's reason, or a slow level that writes with a collective.
  [[nodiscard]] std::string why_not_alone() const {
    if (auto why = alone::why_not(fast); !why.empty()) return "storage::multilevel, fast level: " + why;
    if constexpr (!can_flush_in_background)
      return "storage::multilevel: the slow level '" + std::string(storage::name_of(slow)) +
             "' writes with a collective; consistency::eventual needs one that writes alone (posix_dir)";
    return {};
  }
  /// \brief Alone (consistency::eventual): the fast level, then, for a flushed version, the slow one,
  /// both durable when this returns. The background flush is not used: committing it on the slow
  /// level needs every rank at once (`settle`); with `.async` the checkpointer's own writer keeps
  /// both writes off the compute path.
  void write_own_shard(std::uint64_t v, snapshot::encoded_shard const& shard) {
    alone::write(fast, v, shard);
    if (!flushed(v)) return;
    slow.write_shard(v, shard);
    prune_slow_alone();
  }
  /// \brief Collective: what writing alone needs, opened on the fast level (the slow one is written with `write_shard`).
  void open_alone() { alone::open(fast); }
  void progress(alone::sayer const& say) { alone::progress(fast, say); }
  void drain(alone::sayer const& say) { alone::drain(fast, say); }
  [[nodiscard]] std::vector<int> commit_replicas() const { return alone::commit_replicas(fast); }

  /// \brief Collective (every rank, between commits): completes a background flush whose copies are
  /// durable on every rank — rank 0 writes its commit record on the slow level — or gives up one that
  /// failed on some rank (its partial copy is removed). With `wait`, this rank first waits for its
  /// copy; without, a flush still running on some rank is left for the next call.
  template <comm::communicator Comm>
  flush_report settle(Comm const& c, bool wait) {
    flush_report r;
    if (!flushes_in_background() || !fl_) return r;
    auto& f = *fl_;
    auto const v = c.all_reduce(f.pending.value_or(0), comm::reduce_op::max);
    if (v == 0) return r;
    r.version = v;
    if (wait && f.pending) {
      r.waited = !f.done.load(std::memory_order_acquire);
      f.join();
    }
    std::uint64_t const ready = !f.pending || f.done.load(std::memory_order_acquire) ? 1 : 0;
    if (c.all_reduce(ready, comm::reduce_op::min) == 0) return r;  // still in flight somewhere
    f.join();
    r.seconds = f.seconds;
    std::string why;
    if (f.pending != v) why = "rank " + std::to_string(c.rank()) + " did not write version " + std::to_string(v);
    else if (!f.error.empty()) why = f.error;
    else if (c.rank() == 0 && !f.record) why = "version " + std::to_string(v) + " was not committed on the fast level";
    auto ok = comm::agree(c, why.empty() ? 0 : 1, why);
    if (ok && c.rank() == 0) {
      try {
        slow.write_commit(v, *f.record);
      } catch (std::exception const& e) {
        why = e.what();
      }
    }
    if (ok) ok = comm::agree(c, why.empty() ? 0 : 1, why);
    if (!ok) {
      if (c.rank() == 0) slow.remove_commit(v);
      slow.remove_shard(v, c.rank());
      if (c.rank() == 0) slow.remove_version(v);
      r.failure = ok.reason;
    }
    r.committed = static_cast<bool>(ok);
    f.pending.reset();
    f.record.reset();
    std::vector<std::byte>{}.swap(f.bytes);
    if (r.committed) prune_slow(c);
    return r;
  }

  [[nodiscard]] byte_buffer read_shard(std::uint64_t v, int rank) const {
    try {
      return fast.read_shard(v, rank);
    } catch (error const& e) {
      if (!flushed(v)) throw;
      return slow.read_shard(v, rank);
    }
  }
  /// \brief Part of the shard, from the level `read_shard` would read it from.
  void read_shard_part(std::uint64_t v, int rank, std::uint64_t offset, std::span<std::byte> out) const
    requires partial_reader<Fast> && partial_reader<Slow>
  {
    try {
      fast.read_shard_part(v, rank, offset, out);
    } catch (error const&) {
      if (!flushed(v)) throw;
      slow.read_shard_part(v, rank, offset, out);
    }
  }
  void remove_shard(std::uint64_t v, int rank) {
    fast.remove_shard(v, rank);
    if (!slow_keeps(v)) slow.remove_shard(v, rank);
  }
  /// \brief On the slow level, a version flushed in the background is committed by `settle`.
  void write_commit(std::uint64_t v, std::string_view text) {
    fast.write_commit(v, text);
    if (!flushed(v)) return;
    if (fl_ && fl_->pending == v) fl_->record = std::string(text);
    else slow.write_commit(v, text);
  }
  void replicate_commit(std::uint64_t v, std::string_view text)
    requires requires(Fast& f) { f.replicate_commit(v, text); }
  {
    fast.replicate_commit(v, text);
  }
  template <comm::communicator Comm, class... Args>
  void recover(Comm const& c, Args&&... args)
    requires requires(Fast& f) { f.recover(c, std::forward<Args>(args)...); }
  {
    fast.recover(c, std::forward<Args>(args)...);
  }
  [[nodiscard]] std::optional<std::string> read_commit(std::uint64_t v) const {
    std::optional<std::string> t;
    try {
      t = fast.read_commit(v);
    } catch (error const&) {
    }
    return t ? t : slow.read_commit(v);
  }
  void remove_commit(std::uint64_t v) {
    fast.remove_commit(v);
    if (!slow_keeps(v)) slow.remove_commit(v);
  }
  void remove_version(std::uint64_t v) {
    fast.remove_version(v);
    if (!slow_keeps(v)) slow.remove_version(v);
  }
  [[nodiscard]] listing list() const {
    auto a = fast.list();
    auto b = slow.list();
    listing out;
    auto merge = [](std::vector<std::uint64_t> x, std::vector<std::uint64_t> const& y) {
      x.insert(x.end(), y.begin(), y.end());
      std::ranges::sort(x);
      x.erase(std::unique(x.begin(), x.end()), x.end());
      return x;
    };
    out.committed = merge(a.committed, b.committed);
    out.all = merge(a.all, b.all);
    for (auto& f : b.foreign)
      if (!f.ends_with("/fast")) out.foreign.push_back(f);
    out.foreign.insert(out.foreign.end(), a.foreign.begin(), a.foreign.end());
    return out;
  }
  [[nodiscard]] std::optional<std::uint64_t> free_bytes() const {
    auto a = fast.free_bytes(), b = slow.free_bytes();
    if (a && b) return std::min(*a, *b);
    return a ? a : b;
  }
  [[nodiscard]] std::string shard_location(std::uint64_t v, int rank) const {
    return fast.shard_location(v, rank);
  }
  [[nodiscard]] std::string commit_location(std::uint64_t v) const { return fast.commit_location(v); }
  friend bool operator==(multilevel const& a, multilevel const& b) noexcept {
    return a.fast == b.fast && a.slow == b.slow && a.background == b.background && a.keep_flushed == b.keep_flushed &&
           a.flush_every == b.flush_every;
  }

 private:
  /// The background copy to `Slow` (shared by copies of this object; joined when the last goes).
  struct flusher {
    std::thread thread;
    std::atomic<bool> done{true};
    std::optional<std::uint64_t> pending;  ///< the version being copied, or copied and not yet settled
    std::optional<std::string> record;     ///< rank 0: its commit record, once committed on `Fast`
    std::string error;                     ///< set by the thread before `done`
    double seconds = 0;
    std::vector<std::byte> bytes;          ///< the shard, copied
    void join() {
      if (thread.joinable()) thread.join();
    }
    ~flusher() { join(); }
  };

  /// Whether the slow level keeps `v` although it leaves the fast one: in flight, or one of the
  /// newest `keep_flushed` committed there.
  [[nodiscard]] bool slow_keeps(std::uint64_t v) const {
    if (fl_ && fl_->pending == v) return true;  // settle() commits it, or removes what it wrote
    if (!flushed(v)) return false;
    auto const l = slow.list();
    if (!std::binary_search(l.committed.begin(), l.committed.end(), v)) return false;  // a leftover
    auto const newer = static_cast<std::size_t>(l.committed.end() - std::upper_bound(l.committed.begin(), l.committed.end(), v));
    return newer < keep_flushed;
  }

  /// Collective: a version newly committed on the slow level may leave more than `keep_flushed`
  /// there; those older ones that the fast level no longer holds (retention retired them from it
  /// while the slow level had to keep them) go. Rank 0's view decides.
  template <comm::communicator Comm>
  void prune_slow(Comm const& c) {
    std::vector<std::uint64_t> doomed;
    if (c.rank() == 0) {
      auto const on_slow = slow.list().committed;
      auto const on_fast = fast.list().committed;
      if (on_slow.size() > keep_flushed)
        for (auto it = on_slow.begin(); it != on_slow.end() - static_cast<std::ptrdiff_t>(keep_flushed); ++it)
          if (!std::binary_search(on_fast.begin(), on_fast.end(), *it)) doomed.push_back(*it);
    }
    std::uint64_t n = doomed.size();
    c.broadcast(std::as_writable_bytes(std::span(&n, 1)), 0);
    doomed.resize(static_cast<std::size_t>(n));
    c.broadcast(std::as_writable_bytes(std::span(doomed.data(), doomed.size())), 0);
    for (auto v : doomed) {
      if (c.rank() == 0) slow.remove_commit(v);  // the version stops existing there first
      slow.remove_shard(v, c.rank());
    }
    c.barrier();
    if (c.rank() == 0)
      for (auto v : doomed) slow.remove_version(v);
  }

  /// `prune_slow` without a collective (consistency::eventual), each rank on its own view: versions
  /// older than the slow level's newest `keep_flushed` committed ones and gone from the fast level
  /// leave the slow one (rank 0 removes the record first, every rank its own shard).
  void prune_slow_alone() {
    auto const l = slow.list();
    if (l.committed.size() <= keep_flushed) return;
    auto const oldest_kept = *(l.committed.end() - static_cast<std::ptrdiff_t>(keep_flushed));
    auto const on_fast = fast.list().committed;
    for (auto v : l.all) {
      if (v >= oldest_kept) break;
      if (std::binary_search(on_fast.begin(), on_fast.end(), v)) continue;
      if (rank_ == 0) slow.remove_commit(v);
      slow.remove_shard(v, rank_);
      slow.remove_version(v);
    }
  }

  int rank_ = 0;
  std::shared_ptr<flusher> fl_;
};

}  // namespace strata::storage
