#pragma once
/// \file
/// \brief `strata::checkpointer`: protect state, checkpoint it when the trigger says, restore it.

#include <strata/checkpoint/log.hpp>
#include <strata/checkpoint/manifest.hpp>
#include <strata/checkpoint/retention.hpp>
#include <strata/comm/agree.hpp>
#include <strata/comm/concepts.hpp>
#include <strata/comm/mpi.hpp>
#include <strata/consistency/coordinated.hpp>
#include <strata/detail/hash.hpp>
#include <strata/error.hpp>
#include <strata/snapshot/full.hpp>
#include <strata/state/registry.hpp>
#include <strata/storage/posix_dir.hpp>
#include <strata/trigger/every_n.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace strata {

/// \brief Figures of the last checkpoint or restore, for logs, metrics and benchmarks.
struct checkpoint_stats {
  std::uint64_t version = 0;
  std::uint64_t bytes = 0;        ///< this rank's shard
  double encode_seconds = 0;      ///< staging and encoding (application blocked)
  double commit_seconds = 0;      ///< write, verify and the protocol
  double total_seconds = 0;       ///< application blocked in all
};

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
/// \endcode
template <comm::communicator Comm = comm::mpi, snapshot::strategy Snapshot = snapshot::full,
          class Storage = storage::posix_dir, consistency::protocol Consistency = consistency::coordinated,
          trigger::policy Trigger = trigger::every_n, retention::policy Retention = retention::keep_last<>>
class checkpointer {
  static_assert(storage::driver<Storage, Comm>,
                "strata::checkpointer: the Storage policy does not model strata::storage::driver (see "
                "strata/storage/concepts.hpp for the members it needs)");

 public:
  using comm_type = Comm;
  using snapshot_type = Snapshot;
  using storage_type = Storage;
  using consistency_type = Consistency;
  using trigger_type = Trigger;
  using retention_type = Retention;

  /// \brief Everything with a sensible default: `{.directory = "ckpt"}` is enough.
  struct options {
    std::filesystem::path directory = "strata_checkpoints";
    Trigger trigger{};
    Retention retention{};
    Snapshot snapshot{};
    Storage storage{};
    Consistency consistency{};
    bool verify_after_write = true;  ///< read each shard back and compare its checksum before voting
    bool check_free_space = true;    ///< refuse a checkpoint that cannot fit before writing anything
    verbosity log_level = verbosity::warnings;
    std::ostream* log = &std::cerr;
  };

  /// \brief Collective: prepares the directory on every rank; if any rank cannot use it, every rank throws.
  checkpointer(Comm comm, options opt = {})
      : comm_(std::move(comm)), opt_(std::move(opt)), log_(opt_.log, opt_.log_level, comm_.rank()) {
    std::string why;
    try {
      opt_.storage.attach(comm_, opt_.directory);
    } catch (std::exception const& e) {
      why = e.what();
    }
    if (auto a = comm::agree(comm_, why.empty() ? 0 : 1, why); !a) throw usage_error(a.reason);
  }

  checkpointer(checkpointer const&) = delete;
  checkpointer& operator=(checkpointer const&) = delete;

  /// \brief Protects `x` under `name` (trivially copyable values, contiguous ranges, Thrust vectors
  /// of any system, user types with `strata::serializer<T>`). `x` must outlive the checkpointer.
  template <class T>
  void protect(std::string name, T& x) {
    registry_.protect(std::move(name), x);
  }
  /// \brief Stops protecting `name`.
  bool unprotect(std::string const& name) { return registry_.unprotect(name); }

  /// \brief Tells the checkpointer that step `i` is complete; checkpoints if the trigger says so.
  /// \returns whether a checkpoint was taken.
  bool step(std::uint64_t i) {
    step_ = i;
    bool due = opt_.trigger.due(i, trigger::clock::now());
    if constexpr (!Trigger::deterministic) due = comm_.all_reduce(std::uint64_t{due}, comm::reduce_op::max) != 0;
    if (due) checkpoint();
    return due;
  }

  /// \brief Collective: checkpoints now, whatever the trigger says. \returns the committed version.
  /// \throws checkpoint_error on every rank if any rank fails; the previous version stays intact.
  std::uint64_t checkpoint() {
    using sec = std::chrono::duration<double>;
    auto const t0 = trigger::clock::now();
    if (!next_version_) discover_next_version();
    auto const v = *next_version_;
    precheck(v);

    snapshot::shard_id const id{v, static_cast<std::uint32_t>(comm_.rank()), static_cast<std::uint32_t>(comm_.size())};
    auto shard = opt_.snapshot.encode(registry_, id);
    auto const t1 = trigger::clock::now();

    manifest m;
    if (comm_.rank() == 0) {
      m.id = manifest::new_id();
      m.version = v;
      m.created_unix_ms = manifest::now_unix_ms();
      m.ranks = static_cast<std::uint32_t>(comm_.size());
      m.step = step_;
      m.snapshot = Snapshot::name;
      m.storage = Storage::name;
      m.consistency = Consistency::name;
      m.parent = parent_;
      m.version_vector.assign(static_cast<std::size_t>(comm_.size()), v);
    }
    std::string record;
    next_version_ = v + 1;  // a failed attempt never reuses its number: its leftovers are not history
    opt_.consistency.commit(comm_, opt_.storage, v, shard, opt_.verify_after_write,
                            [&](std::vector<consistency::shard_vote> const& votes) {
                              for (std::size_t r = 0; r < votes.size(); ++r)
                                m.shards.push_back({static_cast<std::uint32_t>(r),
                                                    relative_location(v, static_cast<int>(r)),
                                                    votes[r].bytes, votes[r].xxh3});
                              record = m.to_text();
                              return record;
                            });
    auto const t2 = trigger::clock::now();
    remember_commit(v, m.id, record);
    stats_ = {v, shard.bytes(), sec(t1 - t0).count(), sec(t2 - t1).count(), sec(t2 - t0).count()};
    opt_.trigger.record({step_, t2, stats_.total_seconds, stats_.bytes});
    if (comm_.rank() == 0)
      log_.info("committed version " + std::to_string(v) + " at step " + std::to_string(step_) + " (" +
                std::to_string(stats_.bytes) + " bytes on rank 0, " + std::to_string(stats_.total_seconds) + " s)");
    retire();
    return v;
  }

  /// \brief Collective: restores the newest version every rank holds complete and valid.
  /// Falls back to older versions with a warning; returns nullopt when the directory holds none.
  /// \throws restore_error when versions exist but none can be used, or the newest was written by
  /// another number of ranks, or a protected name or type does not match (state is untouched then).
  std::optional<std::uint64_t> restore_latest() { return restore_impl(std::nullopt); }

  /// \brief Collective: restores exactly `version` (rolling back); later checkpoints start a new branch.
  std::uint64_t restore(std::uint64_t version) { return *restore_impl(version); }

  /// \brief Drains pending work (synchronous checkpointer: nothing is ever pending).
  void wait() {}

  /// \brief Versions committed in the directory, ascending (as this rank sees them).
  [[nodiscard]] std::vector<std::uint64_t> versions() const { return opt_.storage.list().committed; }
  /// \brief The version restored or last committed by this checkpointer.
  [[nodiscard]] std::optional<std::uint64_t> current_version() const {
    return parent_ ? std::optional(parent_->version) : std::nullopt;
  }
  [[nodiscard]] checkpoint_stats const& last_stats() const noexcept { return stats_; }
  [[nodiscard]] std::uint64_t last_step() const noexcept { return step_; }
  [[nodiscard]] Comm const& communicator() const noexcept { return comm_; }
  [[nodiscard]] options const& settings() const noexcept { return opt_; }
  [[nodiscard]] Storage& storage() noexcept { return opt_.storage; }
  [[nodiscard]] Trigger& trigger_policy() noexcept { return opt_.trigger; }

 private:
  using manifest = checkpoint::manifest;

  void discover_next_version() {
    auto const l = opt_.storage.list();
    std::uint64_t const highest = l.all.empty() ? 0 : l.all.back();
    next_version_ = comm_.all_reduce(highest, comm::reduce_op::max) + 1;
  }

  void precheck(std::uint64_t v) {
    if (comm_.all_reduce(std::uint64_t{registry_.size()}, comm::reduce_op::sum) == 0)
      throw usage_error("checkpoint version " + std::to_string(v) + ": nothing is protected on any rank");
    std::uint64_t need = 0;
    for (auto const& r : registry_) need += r->info().bytes();
    std::string why;
    if (auto free = opt_.check_free_space ? opt_.storage.free_bytes() : std::nullopt;
        free && *free < need + need / 64 + (64u << 10))
      why = "rank " + std::to_string(comm_.rank()) + ": " + opt_.directory.string() + " has " +
            std::to_string(*free >> 20) + " MiB free, version " + std::to_string(v) + " needs about " +
            std::to_string((need >> 20) + 1) + " MiB";
    if (auto a = comm::agree(comm_, why.empty() ? 0 : 1, why); !a)
      throw checkpoint_error("checkpoint version " + std::to_string(v) + " not attempted: " + a.reason +
                             " (the last committed version is intact)");
  }

  /// Shard locations in the manifest are relative to the directory, so that it can be moved.
  std::string relative_location(std::uint64_t v, int r) const {
    auto const full = std::filesystem::path(opt_.storage.shard_location(v, r));
    auto rel = full.lexically_relative(opt_.directory);
    return rel.empty() ? full.string() : rel.string();
  }

  void remember_commit(std::uint64_t v, std::string const& id, std::string const& record_on_rank0) {
    // Rank 0 built the record; the others learn its hash, which the next version's manifest chains to.
    std::uint64_t h = comm_.rank() == 0 ? detail::xxh3(record_on_rank0) : 0;
    comm_.broadcast(std::as_writable_bytes(std::span(&h, 1)), 0);
    parent_ = checkpoint::parent_link{v, id, h};
  }

  void retire() {
    auto const l = opt_.storage.list();
    auto committed = l.committed;
    auto doomed = opt_.retention.retire(committed);
    // Every rank must retire the same versions: rank 0's view decides.
    std::uint64_t n = comm_.rank() == 0 ? doomed.size() : 0;
    comm_.broadcast(std::as_writable_bytes(std::span(&n, 1)), 0);
    doomed.resize(static_cast<std::size_t>(n));
    comm_.broadcast(std::as_writable_bytes(std::span(doomed.data(), doomed.size())), 0);
    for (auto v : doomed) {
      if (comm_.rank() == 0) opt_.storage.remove_commit(v);  // the version stops existing first
      opt_.storage.remove_shard(v, comm_.rank());
      opt_.storage.remove_version(v);
    }
    // Leftovers of aborted or crashed attempts older than the current version are not history.
    auto const current = parent_ ? parent_->version : 0;
    for (auto v : l.all)
      if (v < current && !std::binary_search(committed.begin(), committed.end(), v)) {
        opt_.storage.remove_shard(v, comm_.rank());
        opt_.storage.remove_version(v);
      }
    if (!doomed.empty() && comm_.rank() == 0)
      log_.info("retired " + std::to_string(doomed.size()) + " old version(s), oldest kept is now " +
                std::to_string(committed[doomed.size()]));
  }

  /// Local check of version v: manifest, rank count, chain, shard checksum, region shapes.
  consistency::verdict check_local(std::uint64_t v, std::string& why, std::vector<std::byte>& shard_bytes,
                                   std::vector<snapshot::decoded_region>& regions, manifest& m) {
    int const rank = comm_.rank();
    std::string const me = "rank " + std::to_string(rank);
    auto const where = opt_.storage.commit_location(v);
    try {
      auto text = opt_.storage.read_commit(v);
      if (!text) throw error(where + ": commit record missing");
      m = manifest::parse(*text, where);
      if (m.version != v) throw error(where + ": records version " + std::to_string(m.version));
      if (m.ranks != static_cast<std::uint32_t>(comm_.size())) {
        why = "checkpoint version " + std::to_string(v) + " in " + opt_.directory.string() + " was written by " +
              std::to_string(m.ranks) + " ranks but this run has " + std::to_string(comm_.size()) +
              "; restarting on a different rank count is not supported for this state — rerun with " +
              std::to_string(m.ranks) + " ranks (or use another directory to start afresh)";
        return consistency::verdict::refused;
      }
      if (m.snapshot != Snapshot::name) throw error(where + ": written with snapshot '" + m.snapshot + "', this checkpointer uses '" + std::string(Snapshot::name) + "'");
      check_chain(m);
      auto const& rec = m.shards[static_cast<std::size_t>(rank)];
      shard_bytes = opt_.storage.read_shard(v, rank);
      if (shard_bytes.size() != rec.bytes)
        throw error(opt_.storage.shard_location(v, rank) + ": " + std::to_string(shard_bytes.size()) +
                    " bytes, the manifest records " + std::to_string(rec.bytes) + " (truncated or replaced)");
      if (detail::xxh3(shard_bytes) != rec.xxh3)
        throw error(opt_.storage.shard_location(v, rank) + ": checksum mismatch (the shard is corrupt)");
      snapshot::shard_id const id{v, static_cast<std::uint32_t>(rank), m.ranks};
      regions = opt_.snapshot.decode(shard_bytes, id, opt_.storage.shard_location(v, rank));
    } catch (error const& e) {
      why = me + ": " + e.what();
      return consistency::verdict::invalid;
    }
    // Shapes: a mismatch is the program's doing, not the file's: refuse rather than fall back.
    try {
      for (auto const& r : registry_) {
        auto const name = r->info().name;
        auto it = std::find_if(regions.begin(), regions.end(), [&](auto const& d) { return d.info.name == name; });
        if (it == regions.end())
          throw usage_error("protected region '" + name + "' is not in version " + std::to_string(v) + " (" +
                            opt_.storage.shard_location(v, rank) + ")");
        r->check_compatible(it->info);
      }
    } catch (usage_error const& e) {
      why = me + ": " + e.what();
      return consistency::verdict::refused;
    }
    return consistency::verdict::valid;
  }

  /// The parent's manifest, where still kept, must hash to what this manifest recorded.
  void check_chain(manifest const& m) {
    if (!m.parent) return;
    std::optional<std::string> parent_text;
    try {
      parent_text = opt_.storage.read_commit(m.parent->version);
    } catch (error const&) {
    }
    if (parent_text && detail::xxh3(*parent_text) != m.parent->manifest_xxh3)
      chain_warnings_.push_back("version " + std::to_string(m.version) + " records parent version " +
                                std::to_string(m.parent->version) + " with a different manifest hash than " +
                                opt_.storage.commit_location(m.parent->version) + " has now (history altered)");
  }

  std::optional<std::uint64_t> restore_impl(std::optional<std::uint64_t> exact) {
    auto const l = opt_.storage.list();
    if (comm_.rank() == 0)
      for (auto const& f : l.foreign) log_.warn("ignoring foreign entry in the checkpoint directory: " + f);
    std::vector<std::uint64_t> candidates = l.committed;
    if (exact) {
      candidates.clear();
      if (std::binary_search(l.committed.begin(), l.committed.end(), *exact)) candidates.push_back(*exact);
    }
    std::vector<std::byte> shard_bytes;
    std::vector<snapshot::decoded_region> regions;
    manifest m;
    std::uint64_t checked = 0;
    chain_warnings_.clear();
    auto chosen = opt_.consistency.choose(
        comm_, candidates,
        [&](std::uint64_t v, std::string& why) {
          ++checked;
          return check_local(v, why, shard_bytes, regions, m);
        },
        [&](std::string const& w) {
          if (comm_.rank() == 0) log_.warn(w);
        });
    for (auto const& w : chain_warnings_) log_.warn(w);
    auto const total = comm_.all_reduce(std::uint64_t{l.committed.size()}, comm::reduce_op::max);
    if (!chosen) {
      if (exact)
        throw restore_error("version " + std::to_string(*exact) + " is not a committed version in " +
                            opt_.directory.string() + " on every rank");
      if (total > 0)
        throw restore_error("none of the committed versions in " + opt_.directory.string() +
                            " is complete and valid on every rank (see the warnings above); move the directory "
                            "aside to start afresh");
      discover_next_version();
      return std::nullopt;
    }
    for (auto const& r : registry_) {
      auto const name = r->info().name;
      auto it = std::find_if(regions.begin(), regions.end(), [&](auto const& d) { return d.info.name == name; });
      r->load(it->info, it->payload);
    }
    for (auto const& d : regions)
      if (!registry_.find(d.info.name))
        log_.warn("version " + std::to_string(*chosen) + " holds region '" + d.info.name +
                  "' which is not protected now; it was not restored");
    step_ = m.step;
    parent_ = checkpoint::parent_link{*chosen, m.id, 0};
    if (auto text = opt_.storage.read_commit(*chosen)) parent_->manifest_xxh3 = detail::xxh3(*text);
    discover_next_version();
    stats_ = {*chosen, shard_bytes.size(), 0, 0, 0};
    if (comm_.rank() == 0)
      log_.info("restored version " + std::to_string(*chosen) + " (step " + std::to_string(m.step) + ")" +
                (*next_version_ > *chosen + 1 ? "; new checkpoints start a branch at version " +
                                                    std::to_string(*next_version_)
                                              : std::string{}));
    return chosen;
  }

  Comm comm_;
  options opt_;
  logger log_;
  state::registry registry_;
  std::uint64_t step_ = 0;
  std::optional<std::uint64_t> next_version_;
  std::optional<checkpoint::parent_link> parent_;
  std::vector<std::string> chain_warnings_;
  checkpoint_stats stats_;
};

}  // namespace strata
