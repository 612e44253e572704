// heat2d's checkpointer configuration (see params.hpp): compiled by the host compiler in every
// build, CUDA included, because it includes toml++ (strata/checkpoint/configuration_file.hpp).
#include "params.hpp"

#include <strata/checkpoint/configuration_file.hpp>

strata::checkpoint::configuration configure(CLI::App const& app, params const& p, std::string const& config_file) {
  auto given = [&](char const* flag) { return app.count(flag) > 0; };
  strata::checkpoint::configuration c;
  // heat2d's defaults (code: the files and the environment override them).
  c.directory = p.dir;
  c.log_level = strata::verbosity::info;
  c.incremental_block_bytes = 16 * 1024;
  c.every_n.n = p.every;
  c.every_seconds.seconds = p.seconds;
  c.young_daly = {.mtbf_seconds = p.mtbf, .first_seconds = 0.2, .min_seconds = 0.05};
  c.adaptive = {.min_steps = 5, .max_steps = 40, .first_steps = 10};
  c.multilevel_flush_every = 2;
  c = strata::checkpoint::load_configuration(c, config_file);
  // Flags given explicitly win.
  if (given("--dir")) c.directory = p.dir;
  if (given("--quiet")) c.log_level = p.quiet ? strata::verbosity::warnings : strata::verbosity::info;
  if (given("--snapshot")) {
    c.snapshot = p.snapshot;
    if (p.snapshot == "compressed") c.compressed_inner = "incremental";
  }
  if (given("--storage")) {
    c.storage = p.storage == "partner" || p.storage == "multilevel" ? "multilevel" : p.storage;
    if (p.storage == "partner") c.multilevel_fast = "partner", c.multilevel_flush_every = 1;  // partner memory + posix every version
    if (p.storage == "multilevel") c.multilevel_fast = "posix", c.multilevel_flush_every = 2;  // DIR/fast, DIR every 2nd
  }
  if (!p.local.empty()) {  // node-local levels: L1 (+ L2/L3 by --redundancy), L4 every 2nd version with --shared
    c.node_local_path = p.local;
    if (!p.shared.empty()) c.storage = "multilevel", c.multilevel_fast = "node_local", c.multilevel_flush_every = 2;
    else c.storage = "node_local";
    c.directory = p.shared.empty() ? p.local : p.shared;
  }
  if (given("--redundancy")) c.node_local_redundancy = p.redundancy;
  if (given("--group-size")) c.node_local_group_size = p.group_size;
  if (given("--parity")) c.node_local_parity = p.parity;
  if (given("--every")) c.every_n.n = p.every;
  if (given("--seconds")) c.every_seconds.seconds = p.seconds;
  if (given("--mtbf")) c.young_daly.mtbf_seconds = p.mtbf;
  if (given("--trigger"))
    c.trigger = p.trigger == "seconds" ? "every_seconds" : p.trigger == "young-daly" ? "young_daly" : p.trigger == "adaptive" ? "adaptive" : "every_n";
  else if (given("--every"))
    c.trigger = "every_n";
  if (c.trigger == "every_n" && given("--every") && p.every == 0) c.trigger = "never";  // --every 0: none periodic
  if (given("--async")) c.async = p.async == "on";
  if (given("--consistency")) c.consistency = p.consistency;
  if (given("--lock-lease")) c.lock_lease_seconds = p.lock_lease;
  if (given("--preemption")) {
    if (p.preemption == "off") c.preemption.signals.clear();
    else if (c.preemption.signals.empty()) c.preemption.signals = strata::preemption::options{}.signals;
    c.preemption.on_signal = p.preemption == "exit" ? strata::preemption::action::exit : strata::preemption::action::stop;
  }
  return c;
}
