#pragma once
// heat2d's command-line settings, shared by heat2d.cpp (the simulation; CUDA in CUDA builds) and
// configure.cpp (the checkpointer's configuration: compiled by the host compiler always, since
// toml++'s headers do not go through nvcc).

#include <strata/checkpoint/configuration.hpp>

#include <CLI/CLI.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

struct params {
  std::size_t n = 256;
  std::uint64_t steps = 1000, every = 100;
  std::string dir = "heat2d_ckpt";
  long long crash_at_step = -1;
  int crash_rank = 0;
  bool quiet = false;
  std::string snapshot = "full", storage = "posix", trigger = "every", async = "off", preemption = "stop";
  std::string consistency = "coordinated";
  std::string local, shared, redundancy = "none";  // node-local level, shared level, copies beyond L1
  std::uint32_t group_size = 0, parity = 2;          // erasure groups (L3): members per group, RS parity
  double seconds = 10.0, mtbf = 60.0;
  double lock_lease = 30.0;
  int step_delay_ms = 0;
  int slow_rank = -1;  ///< this rank's steps take 3 times --step-delay-ms (a slow node)
  // elastic demo (SPEC S8): synthetic metrics fed to the scale rules each step
  double elastic_p99_ms = -1, elastic_utilisation = 0, elastic_seconds_per_step = 30;
  int elastic_max_ranks = 1 << 20;
};

/// The checkpointer's settings, later ones winning: heat2d's defaults, the file named by
/// STRATA_CONFIG, the file given with --config, STRATA_* environment variables, then the flags
/// given on the command line.
strata::checkpoint::configuration configure(CLI::App const& app, params const& p, std::string const& config_file);
