// bench_async_stall: how long the application is blocked per checkpoint, over the time of one
// memcpy of the protected bytes (goal <= 1.1 for .async = true, full and incremental: the caller
// only copies, the writer encodes), with the synchronous figure for the same state measured side
// by side in the same run. JSON on stdout (rank 0).
//
//   mpiexec -n R bench_async_stall --sizes 64,256 --reps 5 --dir /tmp/stall
//
// Per size (MiB of protected state per rank): one std::vector<double>, one element in 5 % of its
// 64 KiB blocks rewritten before each checkpoint, and one memcpy of it timed right before each
// checkpoint. Blocked time = the slowest rank's ckpt.checkpoint() call; the median of the reps after
// the first two (warm: the async writer's two staging buffers are recycled from the third on; the
// cold figure is reported too). Between async checkpoints the writer is drained outside the timed
// region (it stands for computation long enough to hide the write).
#include "../stats.hpp"
#include <strata/strata.hpp>
#include <strata/trigger/never.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

namespace {
using clk = std::chrono::steady_clock;
double secs(clk::time_point a, clk::time_point b) { return std::chrono::duration<double>(b - a).count(); }
using strata_bench::median;
}  // namespace

int main(int argc, char** argv) {
  strata::comm::mpi_environment env{argc, argv};
  strata::comm::mpi world{MPI_COMM_WORLD};
  CLI::App app{"application blocked time per checkpoint / memcpy of the protected bytes, sync vs async"};
  std::vector<std::size_t> sizes{64, 256};
  int reps = 5;
  std::string dir = "async_stall_ckpt";
  app.add_option("--sizes", sizes, "MiB of protected state per rank")->delimiter(',');
  app.add_option("--reps", reps, "checkpoints per mode and size (>= 1)");
  app.add_option("--dir", dir, "checkpoint directory (removed per mode)");
  CLI11_PARSE(app, argc, argv);
  int const rank = world.rank();
  reps = std::max(reps, 1);
  int const warm_from = reps > 2 ? 2 : 0;

  if (rank == 0)
    std::printf("{\n  \"benchmark\": \"async_stall\", \"ranks\": %d, \"device_system\": \"%s\", \"reps\": %d,\n  \"results\": [\n",
                world.size(), STRATA_DEVICE_SYSTEM_NAME, reps);
  bool first = true;
  for (std::size_t mib : sizes) {
    std::size_t const n = mib * (std::size_t{1} << 20) / sizeof(double);
    std::vector<double> u(n, 1.0), dst(n, 0.0);
    std::uint64_t step = 0;
    // One memcpy of the protected bytes into a warm buffer, timed right before every checkpoint
    // (same conditions, side by side); slowest rank; medians are compared.
    std::vector<double> copies;
    auto timed_copy = [&] {
      world.barrier();
      auto t0 = clk::now();
      std::memcpy(dst.data(), u.data(), n * sizeof(double));
      copies.push_back(world.all_reduce(secs(t0, clk::now()), strata::comm::reduce_op::max));
    };
    // Modes: 0 full, synchronous; 1 full, async; 2 incremental (64 KiB blocks), async. The update
    // before each checkpoint rewrites one element in 5 % of the blocks (the same for every mode).
    constexpr int modes = 3;
    double blocked[modes] = {}, cold[modes] = {}, write_s[modes] = {};
    std::size_t const per_block = (64u << 10) / sizeof(double), blocks = n / per_block;
    auto run_mode = [&]<class Snapshot>(int mode, Snapshot) {
      std::string const d = dir + "/mode" + std::to_string(mode) + "_" + std::to_string(mib);
      if (rank == 0) std::filesystem::remove_all(d);
      world.barrier();
      // checkpoint() only, no periodic checkpoint
      using ck_t = strata::checkpointer<strata::comm::mpi, Snapshot, strata::storage::posix_dir,
                                        strata::consistency::coordinated, strata::trigger::never>;
      typename ck_t::options o;
      o.directory = d;
      o.async = mode != 0;
      o.retention = {.count = 2};
      if constexpr (requires { o.snapshot.max_chain; }) o.snapshot.max_chain = 1000, o.snapshot.rebase_fraction = 2;
      ck_t ck{world, o};
      ck.protect("u", u);
      ck.protect("step", step);
      std::vector<double> times, writes;
      for (int r = 0; r < reps; ++r) {
        ++step;
        for (std::size_t b = 0; b < blocks; b += 20) u[b * per_block + step % per_block] = static_cast<double>(step);
        ck.step(step);  // the application's step (trigger never: no checkpoint; the first one prepares the staging)
        timed_copy();
        world.barrier();
        auto const t0 = clk::now();
        ck.checkpoint();
        double const t = world.all_reduce(secs(t0, clk::now()), strata::comm::reduce_op::max);
        auto const t1 = clk::now();
        ck.wait();  // async: stands for computation that hides the write (not timed as blocked)
        writes.push_back(world.all_reduce(secs(t1, clk::now()), strata::comm::reduce_op::max));
        if (r == 0) cold[mode] = t;
        if (r >= warm_from) times.push_back(t);
      }
      blocked[mode] = median(times);
      write_s[mode] = mode ? median(writes) : blocked[mode];
      if (rank == 0) std::filesystem::remove_all(d);
    };
    run_mode(0, strata::snapshot::full{});
    run_mode(1, strata::snapshot::full{});
    run_mode(2, strata::snapshot::incremental<64 * 1024>{});
    double const copy = median(copies);
    if (rank == 0) {
      std::printf("%s    {\"mib_per_rank\": %zu, \"memcpy_s\": %.6f, \"sync_blocked_s\": %.6f, \"async_blocked_s\": %.6f, "
                  "\"async_first_blocked_s\": %.6f, \"async_background_write_s\": %.6f, "
                  "\"sync_over_memcpy\": %.3f, \"async_over_memcpy\": %.3f, \"async_first_over_memcpy\": %.3f, "
                  "\"incremental_async_blocked_s\": %.6f, \"incremental_async_background_write_s\": %.6f, "
                  "\"incremental_async_over_memcpy\": %.3f}",
                  first ? "" : ",\n", mib, copy, blocked[0], blocked[1], cold[1], write_s[1], blocked[0] / copy,
                  blocked[1] / copy, cold[1] / copy, blocked[2], write_s[2], blocked[2] / copy);
      std::fflush(stdout);
    }
    first = false;
  }
  if (rank == 0) std::printf("\n  ]\n}\n");
  return 0;
}
