// checkpoint_bandwidth: a full coordinated checkpoint against the raw cost of
// the same bytes, measured side by side in one run, for several state sizes.
//   checkpoint time   / raw write + fsync of the same bytes to the same directory, into a new
//                       file (as a checkpoint must: the previous version stays until the new one
//                       is durable) and, for reference, over the same file again
//   restore time      / raw read of the same bytes (both with the page cache dropped)
//   blocked time      / one memcpy of the protected bytes
// Prints one JSON object per size (and writes them with --json).
#include "../stats.hpp"
#include <strata/strata.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <thrust/fill.h>

#include "../raw_io.hpp"

namespace {
using namespace strata_bench;
using clock_type = std::chrono::steady_clock;
double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}
using strata_bench::median;
}  // namespace

int main(int argc, char** argv) {
  strata::comm::mpi_environment env{argc, argv};
  strata::comm::mpi world{MPI_COMM_WORLD};
  CLI::App app{"checkpoint_bandwidth"};
  std::vector<std::size_t> sizes_mib{64, 256, 1024};
  int reps = 3;
  std::string dir = "bench_ckpt", json_out;
  bool verify = true;
  app.add_option("--sizes", sizes_mib, "total protected MiB (split over the ranks)");
  app.add_option("--reps", reps, "repetitions per size (the median is reported)");
  app.add_option("--dir", dir, "directory written to (the same for raw and strata)");
  app.add_option("--json", json_out, "append results (JSON lines) to this file");
  app.add_option("--verify", verify, "read each shard back before voting (strata's default)");
  CLI11_PARSE(app, argc, argv);
  int const rank = world.rank(), np = world.size();

  for (auto mib : sizes_mib) {
    std::size_t const bytes = (mib << 20) / static_cast<std::size_t>(np);
    thrust::device_vector<double> state(bytes / sizeof(double));
    thrust::fill(state.begin(), state.end(), 1.0 + rank);
    std::vector<std::byte> scratch(bytes), copy(bytes);
    std::memset(scratch.data(), rank + 1, bytes);  // touch the pages before timing
    std::memset(copy.data(), 0, bytes);
    auto const sub = std::filesystem::path(dir) / ("np" + std::to_string(np) + "-" + std::to_string(mib));
    std::filesystem::create_directories(sub);
    auto const raw = sub / ("raw.r" + std::to_string(rank));

    strata::checkpointer<> ckpt{world, {.directory = sub / "ckpt", .retention = {.count = 1}, .verify_after_write = verify}};
    ckpt.protect("state", state);

    std::vector<double> t_raw_w, t_raw_new, t_ckpt, t_raw_r, t_restore, t_memcpy;
    auto const* state_bytes = reinterpret_cast<std::byte const*>(thrust::raw_pointer_cast(state.data()));
    auto timed = [&](auto&& f) {  // slowest rank's time
      world.barrier();
      auto const t0 = clock_type::now();
      f();
      return world.all_reduce(seconds_since(t0), strata::comm::reduce_op::max);
    };
    for (int r = 0; r < reps; ++r) {  // interleaved so that drift hits every method alike
      t_memcpy.push_back(timed([&] { std::memcpy(copy.data(), thrust::raw_pointer_cast(state.data()), bytes); }));
      t_raw_w.push_back(timed([&] { raw_write(raw, state_bytes, bytes); }));
      auto const fresh = sub / ("new.r" + std::to_string(rank) + "." + std::to_string(r));
      t_raw_new.push_back(timed([&] { raw_write(fresh, state_bytes, bytes); }));
      if (r > 0) std::filesystem::remove(sub / ("new.r" + std::to_string(rank) + "." + std::to_string(r - 1)));
      std::uint64_t v = 0;
      t_ckpt.push_back(timed([&] { v = ckpt.checkpoint(); }));
      drop_cache(raw);
      t_raw_r.push_back(timed([&] { raw_read(raw, scratch.data(), bytes); }));
      drop_cache(ckpt.storage().shard_location(v, rank));
      t_restore.push_back(timed([&] { ckpt.restore(v); }));
    }
    std::filesystem::remove(raw);
    std::filesystem::remove(sub / ("new.r" + std::to_string(rank) + "." + std::to_string(reps - 1)));
    if (rank == 0) {
      nlohmann::json j{{"benchmark", "checkpoint_bandwidth"}, {"ranks", np}, {"total_mib", mib},
                       {"bytes_per_rank", bytes}, {"reps", reps}, {"verify_after_write", verify},
                       {"seconds", {{"memcpy", median(t_memcpy)}, {"raw_write_fsync", median(t_raw_new)},
                                    {"raw_overwrite_fsync", median(t_raw_w)},
                                    {"checkpoint", median(t_ckpt)}, {"raw_read", median(t_raw_r)},
                                    {"restore", median(t_restore)}}}};
      j["ratios"] = {{"checkpoint_over_raw_write", median(t_ckpt) / median(t_raw_new)},
                     {"checkpoint_over_raw_overwrite", median(t_ckpt) / median(t_raw_w)},
                     {"restore_over_raw_read", median(t_restore) / median(t_raw_r)},
                     {"blocked_over_memcpy", median(t_ckpt) / median(t_memcpy)}};
      j["checkpoint_mib_per_s"] = static_cast<double>(mib) / median(t_ckpt);
      j["raw_write_mib_per_s"] = static_cast<double>(mib) / median(t_raw_new);
      std::cout << j.dump() << std::endl;
      if (!json_out.empty()) std::ofstream(json_out, std::ios::app) << j.dump() << '\n';
    }
    world.barrier();
    if (rank == 0) std::filesystem::remove_all(sub);
  }
  return 0;
}
