// bench_levels: the node-local levels against raw I/O and against each other, side by side in
// one run, on several nodes (run it on the simulated cluster: benchmarks/levels/run.sh).
//   L1 checkpoint            / raw write+fsync of the same bytes to a new file, same disk
//   L2 (partner) checkpoint  / L1 checkpoint          (what the copy on another node adds)
//   L3 (xor, rs) checkpoint  / L1 checkpoint          (what parity adds)
//   restore after a node loss (its local directory wiped; from L2 or L3)
//                            / restore from L1, and / restore from L4 (the shared directory)
//   L1 + L4 checkpoint (storage::multilevel<node_local, posix_dir, 1>), the L4 copy in the
//   background and synchronous / L1 checkpoint   (what the application waits for the shared level)
// Page caches are dropped before every restore and raw read. Times are the slowest rank's.
// Prints one JSON object per repetition (and appends them to --json).
#include <strata/strata.hpp>
#include <strata/storage/multilevel.hpp>
#include <strata/storage/node_local.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thrust/sequence.h>

#include "../raw_io.hpp"

namespace {
using namespace strata_bench;
using clock_type = std::chrono::steady_clock;
namespace fs = std::filesystem;

double since(clock_type::time_point t0) { return std::chrono::duration<double>(clock_type::now() - t0).count(); }



strata::storage::redundancy parse_redundancy(std::string const& r) {
  using strata::storage::redundancy;
  if (r == "none") return redundancy::none;
  if (r == "partner") return redundancy::partner;
  if (r == "xor") return redundancy::xor_group;
  if (r == "rs") return redundancy::reed_solomon;  // parity 2 (the default)
  throw std::invalid_argument("unknown redundancy '" + r + "'");
}

strata::storage::node_local node_store(std::string const& r) {
  strata::storage::node_local s;
  s.copies = parse_redundancy(r);
  return s;
}

/// The slowest rank's time of `f`, started together.
template <class F>
double timed(strata::comm::mpi const& world, F&& f) {
  world.barrier();
  auto const t0 = clock_type::now();
  f();
  double t = since(t0);
  MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, world.native());
  return t;
}

struct state {
  thrust::device_vector<double> u;
  std::uint64_t step = 0;
};

template <class Storage>
using ckpt_t = strata::checkpointer<strata::comm::mpi, strata::snapshot::full, Storage>;

template <class Storage>
typename ckpt_t<Storage>::options options_for(fs::path const& dir, Storage storage, std::ostream* log) {
  typename ckpt_t<Storage>::options o;
  o.directory = dir;
  o.storage = std::move(storage);
  o.log = log;
  o.log_level = strata::verbosity::warnings;
  return o;
}
}  // namespace

int main(int argc, char** argv) {
  strata::comm::mpi_environment env{argc, argv};
  strata::comm::mpi world{MPI_COMM_WORLD};
  CLI::App app{"bench_levels"};
  std::size_t mib = 64;
  int reps = 3;
  std::string local = "/strata/local/bench_levels", shared = "/strata/shared/bench_levels", json_out;
  std::vector<std::string> redundancies{"partner"};
  int lost_rank = -1;
  app.add_option("--mib-per-rank", mib, "protected MiB per rank");
  app.add_option("--reps", reps, "repetitions (interleaved)");
  app.add_option("--local", local, "node-local directory (the same path on every node)");
  app.add_option("--shared", shared, "shared directory (L4)");
  app.add_option("--redundancy", redundancies, "levels above L1 to measure: partner, xor, rs (rs: 2 parity chunks per stripe)");
  app.add_option("--lost-rank", lost_rank, "a rank whose node is lost (default: the last rank)");
  app.add_option("--json", json_out, "append results (JSON lines) to this file");
  CLI11_PARSE(app, argc, argv);
  int const rank = world.rank(), np = world.size();
  if (lost_rank < 0) lost_rank = np - 1;

  // Which ranks share the lost rank's node: they lose their node-local directory together.
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  std::string lost_host = rank == lost_rank ? host : std::string{};
  {
    std::uint64_t len = lost_host.size();
    MPI_Bcast(&len, 1, MPI_UINT64_T, lost_rank, world.native());
    lost_host.resize(len);
    MPI_Bcast(lost_host.data(), static_cast<int>(len), MPI_CHAR, lost_rank, world.native());
  }
  bool const on_lost_node = lost_host == host;

  std::size_t const bytes = mib << 20;
  state s;
  s.u.resize(bytes / sizeof(double));
  thrust::sequence(s.u.begin(), s.u.end(), double(rank) * 1e9);
  std::vector<std::byte> host_copy(bytes);
  std::memcpy(host_copy.data(), thrust::raw_pointer_cast(s.u.data()), bytes);  // OMP/CPP system: host memory
  auto const checksum = [&] { return strata::detail::xxh3(std::as_bytes(std::span(thrust::raw_pointer_cast(s.u.data()), s.u.size()))); };
  auto const want = checksum();

  auto protect = [&](auto& c) {
    c.protect("u", s.u);
    c.protect("step", s.step);
  };
  auto verify = [&](char const* what) {
    if (checksum() != want) {
      std::cerr << "rank " << rank << ": " << what << " restored other data\n";
      MPI_Abort(world.native(), 2);
    }
  };

  for (int rep = 0; rep < reps; ++rep) {
    nlohmann::json out{{"ranks", np}, {"mib_per_rank", mib}, {"rep", rep}, {"lost_host", lost_host}};
    // Raw: the same bytes to a new file on the node-local disk, fsync'ed.
    fs::path const raw_dir = fs::path(local) / "raw";
    fs::create_directories(raw_dir);
    auto const raw_file = raw_dir / ("r" + std::to_string(rank) + "." + std::to_string(rep));
    double const raw = timed(world, [&] { raw_write(raw_file, host_copy.data(), bytes); });
    fs::remove(raw_file);
    out["raw_write_s"] = raw;

    // L1 only: checkpoint, then restore with the page cache dropped.
    double l1_ckpt = 0, l1_restore = 0;
    {
      fs::path const d = fs::path(local) / "l1";
      ckpt_t<strata::storage::node_local> c{world, options_for(d, strata::storage::node_local{}, &std::cerr)};
      protect(c);
      c.checkpoint();  // warm-up (directory creation, first-touch)
      l1_ckpt = timed(world, [&] { c.checkpoint(); });
      drop_cache_tree(d);
      thrust::fill(s.u.begin(), s.u.end(), 0.0);
      l1_restore = timed(world, [&] { c.restore_latest(); });
      verify("L1");
    }
    out["l1_checkpoint_s"] = l1_ckpt;
    out["l1_restore_s"] = l1_restore;

    // L4: the shared directory.
    double l4_ckpt = 0, l4_restore = 0;
    {
      fs::path const d = fs::path(shared) / "l4";
      ckpt_t<strata::storage::posix_dir> c{world, options_for(d, strata::storage::posix_dir{}, &std::cerr)};
      protect(c);
      c.checkpoint();
      l4_ckpt = timed(world, [&] { c.checkpoint(); });
      drop_cache_tree(d);
      thrust::fill(s.u.begin(), s.u.end(), 0.0);
      l4_restore = timed(world, [&] { c.restore_latest(); });
      verify("L4");
    }
    out["l4_checkpoint_s"] = l4_ckpt;
    out["l4_restore_s"] = l4_restore;

    // L1 + L4 every version: what a checkpoint waits for, the L4 copy in the background or not.
    using l1_l4 = strata::storage::multilevel<strata::storage::node_local, strata::storage::posix_dir, 1>;
    auto both = [&](bool background) {
      l1_l4 st;
      st.fast.path = fs::path(local) / (background ? "ml_bg" : "ml_sync");
      st.background = background;
      ckpt_t<l1_l4> c{world, options_for(fs::path(shared) / (background ? "ml_bg" : "ml_sync"), st, &std::cerr)};
      protect(c);
      c.checkpoint();
      c.wait();  // the warm-up's flush is done: the timed checkpoint has none to wait for
      double const t = timed(world, [&] { c.checkpoint(); });
      c.wait();
      return t;
    };
    double const ml_bg = both(true), ml_sync = both(false);
    out["l1_l4_background_checkpoint_s"] = ml_bg;
    out["l1_l4_sync_checkpoint_s"] = ml_sync;

    nlohmann::json ratios{{"l1_checkpoint_over_raw_write", l1_ckpt / raw}, {"l4_restore_over_l1_restore", l4_restore / l1_restore},
                          {"l1_l4_background_checkpoint_over_l1", ml_bg / l1_ckpt},
                          {"l1_l4_sync_checkpoint_over_l1", ml_sync / l1_ckpt}};
    for (auto const& r : redundancies) {
      if (r == "none") continue;  // nothing survives a node loss at L1 alone
      fs::path const d = fs::path(local) / r;
      std::ostringstream log;
      double ck = 0, lost = 0;
      std::string served;
      {
        ckpt_t<strata::storage::node_local> c{world, options_for(d, node_store(r), &log)};
        protect(c);
        c.checkpoint();
        ck = timed(world, [&] { c.checkpoint(); });
      }
      // The node is lost: everything in its node-local directory is gone (a spare has an empty disk).
      world.barrier();
      if (on_lost_node) {
        std::error_code ec;
        for (auto const& e : fs::directory_iterator(d, ec)) fs::remove_all(e.path(), ec);
      }
      world.barrier();
      drop_cache_tree(d);
      thrust::fill(s.u.begin(), s.u.end(), 0.0);
      {
        ckpt_t<strata::storage::node_local> c{world, options_for(d, node_store(r), &log)};
        protect(c);
        lost = timed(world, [&] { c.restore_latest(); });
        verify(r.c_str());
      }
      auto const text = log.str();
      if (auto at = text.find("shards served by"); at != std::string::npos) served = text.substr(at, text.find('\n', at) - at);
      out[r + "_checkpoint_s"] = ck;
      out[r + "_node_loss_restore_s"] = lost;
      out[r + "_served"] = served;
      ratios[r + "_checkpoint_over_l1"] = ck / l1_ckpt;
      ratios[r + "_node_loss_restore_over_l1_restore"] = lost / l1_restore;
      ratios[r + "_node_loss_restore_over_l4_restore"] = lost / l4_restore;
      if (served.empty() && rank == 0) std::cerr << "warning: " << r << ": no 'served by' line (was a node lost?)\n";
    }
    out["ratios"] = ratios;
    if (rank == 0) {
      std::cout << out.dump() << std::endl;
      if (!json_out.empty()) std::ofstream(json_out, std::ios::app) << out.dump() << '\n';
    }
  }
  return 0;
}
