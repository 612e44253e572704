// The application log (SPEC R9) against raw I/O, side by side in one run, interleaved rounds:
//   append_log with .log_fsync = every_record  vs  write(2) + fsync(2) of the same bytes per entry
//   append_log with .log_fsync = never         vs  write(2) alone per entry
//   restore_latest(replay) of the entries      vs  restore_latest() with no entries + one raw read
//                                                  of the same bytes (both from the page cache)
// for each entry size. Every rank appends to its own log (one file per rank, as in real use).
// Prints one JSON object per size (with --json FILE, also appended there) and the ratios.
#include "../stats.hpp"
#include "../raw_io.hpp"

#include <strata/checkpoint.hpp>

#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace {
using clk = std::chrono::steady_clock;
double secs(clk::time_point a, clk::time_point b) { return std::chrono::duration<double>(b - a).count(); }
using strata_bench::median;

/// Appends `n` entries of `bytes` to a plain file, each with or without fsync: the least a durable log does.
double raw_appends(std::filesystem::path const& p, std::vector<std::byte> const& entry, std::size_t n, bool sync) {
  std::filesystem::remove(p);
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  auto const t0 = clk::now();
  for (std::size_t i = 0; i < n; ++i) {
    if (::write(fd, entry.data(), entry.size()) != static_cast<ssize_t>(entry.size())) throw std::runtime_error("write");
    if (sync) ::fsync(fd);
  }
  auto const t1 = clk::now();
  ::close(fd);
  return secs(t0, t1);
}
}  // namespace

int main(int argc, char** argv) {
  strata::comm::mpi_environment env{argc, argv};
  strata::comm::mpi world{MPI_COMM_WORLD};
  CLI::App app{"bench_log_replay"};
  std::string dir = "/tmp/strata-bench-log", json;
  std::size_t entries = 400, rounds = 3;
  std::vector<std::size_t> sizes{64, 1024, 16384};
  app.add_option("--dir", dir);
  app.add_option("--entries", entries, "entries per measurement");
  app.add_option("--rounds", rounds, "interleaved rounds (medians reported)");
  app.add_option("--sizes", sizes, "entry sizes in bytes");
  app.add_option("--json", json, "append the results to this file (one JSON object per line)");
  CLI11_PARSE(app, argc, argv);
  int const rank = world.rank();
  auto const mine = std::filesystem::path(dir) / ("rank" + std::to_string(rank));
  std::filesystem::create_directories(mine);

  for (auto size : sizes) {
    std::vector<std::byte> entry(size);
    for (std::size_t i = 0; i < size; ++i) entry[i] = static_cast<std::byte>(i * 31 + 7);
    std::vector<double> log_sync, raw_sync, log_nosync, raw_nosync, replay, base_restore;
    for (std::size_t round = 0; round < rounds; ++round) {
      for (auto policy : {strata::replay::fsync_policy::every_record, strata::replay::fsync_policy::never}) {
        bool const sync = policy == strata::replay::fsync_policy::every_record;
        auto const d = std::filesystem::path(dir) / "ckpt";
        if (rank == 0) std::filesystem::remove_all(d);
        world.barrier();
        std::uint64_t applied = 0;
        {
          strata::checkpointer<> ckpt{world, {.directory = d, .log_level = strata::verbosity::quiet,
                                              .replay_log = true, .log_fsync = policy}};
          ckpt.protect("applied", applied);
          ckpt.checkpoint();
          world.barrier();
          auto const t0 = clk::now();
          for (std::size_t i = 0; i < entries; ++i) ckpt.append_log(std::span<const std::byte>(entry));
          auto const t1 = clk::now();
          (sync ? log_sync : log_nosync).push_back(secs(t0, t1));
        }
        world.barrier();
        (sync ? raw_sync : raw_nosync).push_back(raw_appends(mine / "raw.log", entry, entries, sync));
        if (!sync) continue;
        // Replay of those entries, against a restore with an empty log plus one raw read of the log's bytes.
        world.barrier();
        {
          strata::checkpointer<> ckpt{world, {.directory = d, .log_level = strata::verbosity::quiet, .replay_log = true}};
          ckpt.protect("applied", applied);
          auto const t0 = clk::now();
          ckpt.restore_latest([&](strata::checkpoint::log_entry const& e) { applied += e.data.size(); });
          auto const t1 = clk::now();
          replay.push_back(secs(t0, t1));
          ckpt.checkpoint();  // the entries are in a version now: the log is empty
        }
        world.barrier();
        {
          strata::checkpointer<> ckpt{world, {.directory = d, .log_level = strata::verbosity::quiet, .replay_log = true}};
          ckpt.protect("applied", applied);
          std::vector<std::byte> back(entries * size);  // the log was just written: both reads find it cached
          auto const t0 = clk::now();
          ckpt.restore_latest([](strata::checkpoint::log_entry const&) {});
          strata_bench::raw_read(mine / "raw.log", back.data(), entries * size);
          auto const t1 = clk::now();
          base_restore.push_back(secs(t0, t1));
        }
      }
    }
    // The slowest rank's medians: what the job waits for.
    auto worst = [&](std::vector<double> const& v) { return world.all_reduce(median(v), strata::comm::reduce_op::max); };
    double const ls = worst(log_sync), rs = worst(raw_sync), ln = worst(log_nosync), rn = worst(raw_nosync),
                 rp = worst(replay), br = worst(base_restore);
    if (rank == 0) {
      char line[1024];
      std::snprintf(line, sizeof line,
                    "{\"ranks\": %d, \"entry_bytes\": %zu, \"entries\": %zu, \"rounds\": %zu, "
                    "\"seconds\": {\"append_every_record\": %.6f, \"raw_write_fsync\": %.6f, \"append_never\": %.6f, "
                    "\"raw_write\": %.6f, \"restore_with_replay\": %.6f, \"restore_plus_raw_read\": %.6f}, "
                    "\"ratios\": {\"append_every_record_over_raw_write_fsync\": %.3f, \"append_never_over_raw_write\": %.3f, "
                    "\"replay_over_restore_plus_raw_read\": %.3f}}",
                    world.size(), size, entries, rounds, ls, rs, ln, rn, rp, br, ls / rs, ln / rn, rp / br);
      std::printf("%s\n", line);
      if (!json.empty()) std::ofstream{json, std::ios::app} << line << '\n';
    }
  }
  world.barrier();
  if (rank == 0) std::filesystem::remove_all(dir);
  return 0;
}
