#pragma once
/// \file
/// \brief `strata::configured_checkpointer`: one checkpointer type whose snapshot, storage, trigger
/// and retention are chosen at run time, from a `checkpoint::configuration` (code, a TOML file,
/// `STRATA_*` environment variables; SPEC O2).
///
/// \code
/// strata::checkpoint::configuration cfg;
/// cfg.directory = "ckpt";                                                  // the program's defaults
/// cfg = strata::checkpoint::load_configuration(cfg);  // STRATA_CONFIG, STRATA_* (configuration_file.hpp)
/// strata::configured_checkpointer<> ckpt{MPI_COMM_WORLD, strata::checkpoint::to_options(cfg)};
/// \endcode

#include <strata/checkpoint/checkpointer.hpp>
#include <strata/checkpoint/configuration.hpp>
#include <strata/consistency/any.hpp>
#include <strata/retention/any.hpp>
#include <strata/snapshot/any.hpp>
#include <strata/snapshot/compressed.hpp>
#include <strata/snapshot/full.hpp>
#include <strata/snapshot/incremental.hpp>
#include <strata/storage/any.hpp>
#include <strata/storage/mpiio_file.hpp>
#include <strata/storage/multilevel.hpp>
#include <strata/storage/node_local.hpp>
#include <strata/storage/partner_memory.hpp>
#include <strata/storage/posix_dir.hpp>
#include <strata/trigger/any.hpp>
#include <strata/trigger/never.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

namespace strata {

/// \brief The checkpointer over run-time policies: `snapshot::any`, `storage::any<Comm>`,
/// `trigger::any`, `retention::any` and `consistency::any` (coordinated or eventual).
template <comm::communicator Comm = comm::mpi>
using configured_checkpointer =
    checkpointer<Comm, snapshot::any, storage::any<Comm>, consistency::any, trigger::any, retention::any>;

namespace checkpoint {

namespace detail {
template <std::size_t B>
snapshot::any incremental_snapshot(configuration const& c) {
  snapshot::incremental<B> inc{};
  inc.max_chain = static_cast<std::size_t>(c.incremental_max_chain);
  inc.rebase_fraction = c.incremental_rebase_fraction;
  if (c.snapshot != "compressed") return inc;
#ifdef STRATA_HAVE_ZSTD
  snapshot::compressed<snapshot::incremental<B>> z{};
  z.inner = inc;
  z.codec.level = static_cast<int>(c.compressed_level);
  return z;
#else
  throw usage_error("snapshot 'compressed' needs strata built with zstd (libzstd-dev)");
#endif
}

template <std::size_t... B>
snapshot::any incremental_of(configuration const& c, std::index_sequence<B...>) {
  snapshot::any out;
  bool found = false;
  ((c.incremental_block_bytes == incremental_block_sizes[B] ? (out = incremental_snapshot<incremental_block_sizes[B]>(c), found = true) : false), ...);
  if (!found)
    throw usage_error("configuration: snapshot.incremental.block_bytes = " + std::to_string(c.incremental_block_bytes) +
                      " is not a size a run-time configuration offers");
  return out;
}

inline storage::redundancy redundancy_of(std::string const& r) {
  if (r == "partner") return storage::redundancy::partner;
  if (r == "xor") return storage::redundancy::xor_group;
  if (r == "rs") return storage::redundancy::reed_solomon;
  if (r == "none") return storage::redundancy::none;
  throw usage_error("configuration: storage.node_local.redundancy is \"" + r + "\"; it must be one of none, partner, xor, rs");
}

inline storage::node_local node_local_of(configuration const& c) {
  storage::node_local n;
  n.path = c.node_local_path;
  n.copies = redundancy_of(c.node_local_redundancy);
  n.group_size = static_cast<std::uint32_t>(c.node_local_group_size);
  n.parity = static_cast<std::uint32_t>(c.node_local_parity);
  return n;
}

template <class Fast>
auto multilevel_of(configuration const& c, Fast fast) {
  storage::multilevel<Fast, storage::posix_dir, storage::flush_interval_at_run_time> m;
  m.fast = std::move(fast);
  m.background = c.multilevel_background;
  m.keep_flushed = static_cast<std::size_t>(c.multilevel_keep_flushed);
  m.flush_every = c.multilevel_flush_every;
  return m;
}

[[noreturn]] inline void bad_kind(std::string_view what, std::string const& v, std::string_view allowed) {
  throw usage_error("configuration: " + std::string(what) + " is \"" + v + "\"; it must be one of " + std::string(allowed));
}
}  // namespace detail

/// \brief The snapshot strategy `c` chooses, with its parameters.
inline snapshot::any make_snapshot(configuration const& c) {
  if (c.snapshot == "full") return snapshot::full{.block_bytes = c.full_block_bytes, .sample_every = c.full_sample_every};
  if (c.snapshot == "incremental" || (c.snapshot == "compressed" && c.compressed_inner == "incremental"))
    return detail::incremental_of(c, std::make_index_sequence<std::size(incremental_block_sizes)>{});
  if (c.snapshot == "compressed" && c.compressed_inner == "full") {
#ifdef STRATA_HAVE_ZSTD
    snapshot::compressed<snapshot::full> z{};
    z.inner.block_bytes = c.full_block_bytes;
    z.inner.sample_every = c.full_sample_every;
    z.codec.level = static_cast<int>(c.compressed_level);
    return z;
#else
    throw usage_error("snapshot 'compressed' needs strata built with zstd (libzstd-dev)");
#endif
  }
  if (c.snapshot == "compressed") detail::bad_kind("snapshot.compressed.inner", c.compressed_inner, "full, incremental");
  detail::bad_kind("snapshot.kind", c.snapshot, "full, incremental, compressed");
}

/// \brief The storage driver `c` chooses, with its parameters (`mpiio` needs `comm::mpi`).
template <comm::communicator Comm = comm::mpi>
storage::any<Comm> make_storage(configuration const& c) {
  if (c.storage == "posix") return storage::posix_dir{};
  if (c.storage == "mpiio") {
    if constexpr (std::same_as<Comm, comm::mpi>) return storage::mpiio_file{};
    else throw usage_error("configuration: storage 'mpiio' needs strata::comm::mpi");
  }
  if (c.storage == "node_local") return detail::node_local_of(c);
  if (c.storage == "multilevel") {
    if (c.multilevel_fast == "posix") return detail::multilevel_of(c, storage::posix_dir{});
    if (c.multilevel_fast == "partner") return detail::multilevel_of(c, storage::partner_memory{});
    if (c.multilevel_fast == "node_local") return detail::multilevel_of(c, detail::node_local_of(c));
    detail::bad_kind("storage.multilevel.fast", c.multilevel_fast, "posix, partner, node_local");
  }
  detail::bad_kind("storage.kind", c.storage, "posix, mpiio, node_local, multilevel");
}

/// \brief The trigger `c` chooses, with its parameters.
inline trigger::any make_trigger(configuration const& c) {
  if (c.trigger == "every_n") return c.every_n;
  if (c.trigger == "every_seconds") return c.every_seconds;
  if (c.trigger == "young_daly") return c.young_daly;
  if (c.trigger == "adaptive") return c.adaptive;
  if (c.trigger == "never") return trigger::never{};
  detail::bad_kind("trigger.kind", c.trigger, "every_n, every_seconds, young_daly, adaptive, never");
}

/// \brief The retention policy `c` chooses.
inline retention::any make_retention(configuration const& c) {
  if (c.retention == "keep_last") return c.keep_last;
  detail::bad_kind("retention.kind", c.retention, "keep_last");
}

/// \brief The options of a `configured_checkpointer` that `c` describes (its values are checked again,
/// as all options are, when the checkpointer is constructed).
template <comm::communicator Comm = comm::mpi>
typename configured_checkpointer<Comm>::options to_options(configuration const& c) {
  if (c.consistency != "coordinated" && c.consistency != "eventual")
    detail::bad_kind("consistency.kind", c.consistency, "coordinated, eventual");
  typename configured_checkpointer<Comm>::options o;
  o.directory = c.directory;
  if (c.consistency == "eventual") o.consistency = consistency::eventual{};
  o.trigger = make_trigger(c);
  o.retention = make_retention(c);
  o.snapshot = make_snapshot(c);
  o.storage = make_storage<Comm>(c);
  o.verify_after_write = c.verify_after_write;
  o.check_free_space = c.check_free_space;
  o.async = c.async;
  o.memory_limit_bytes = c.memory_limit_bytes;
  o.log_level = c.log_level;
  o.lock_directory = c.lock_directory;
  o.lock_lease = std::chrono::duration<double>(c.lock_lease_seconds);
  o.preemption = c.preemption;
  o.allow_resize = c.allow_resize;
  o.metrics_file = c.metrics_file;
  o.metrics_period = std::chrono::duration<double>(c.metrics_period_seconds);
  o.progress_after = std::chrono::duration<double>(c.progress_after_seconds);
  o.replay_log = c.replay_log;
  o.log_directory = c.log_directory;
  o.log_fsync = c.log_fsync;
  return o;
}

}  // namespace checkpoint
}  // namespace strata
