// A ledger for the application log's fault test (SPEC R9): every step appends one entry
// {step, value} to the rank's log and applies it to an order-sensitive digest; a checkpoint every
// --every steps. A restart restores the newest version and replays the entries after it, checking
// that each arrives once and in order. Crashes come from STRATA_FAULT (e.g. `after_shard@1:5` during
// a commit, `replaying_log@1:23` while entry 23 is replayed). The last line is `ledger <16 hex>`:
// every rank's digest and entry count, combined.
#include <strata/strata.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>

namespace {
struct entry {
  std::uint64_t step;
  std::uint64_t value;
};
struct ledger {
  std::uint64_t digest = 0;
  std::uint64_t entries = 0;
  std::uint64_t through = 0;  ///< the index of the last entry applied
  std::uint64_t step = 0;
  void apply(entry const& e, std::uint64_t index) {
    digest = (digest ^ e.value) * 0x100000001b3ull + e.step;  // order matters
    ++entries;
    through = index;
    step = e.step;
  }
};
std::uint64_t value_at(int rank, std::uint64_t step) {
  std::uint64_t x = step * 0x9e3779b97f4a7c15ull + static_cast<std::uint64_t>(rank) * 0xbf58476d1ce4e5b9ull;
  x ^= x >> 31;
  return x * 0x94d049bb133111ebull;
}
}  // namespace

int main(int argc, char** argv) {
  strata::comm::mpi_environment env{argc, argv};
  strata::comm::mpi world{MPI_COMM_WORLD};
  CLI::App app{"log_victim"};
  std::string dir;
  std::uint64_t steps = 40, every = 5;
  bool async = false;
  app.add_option("--dir", dir)->required();
  app.add_option("--steps", steps);
  app.add_option("--every", every);
  app.add_flag("--async", async);
  CLI11_PARSE(app, argc, argv);
  int const rank = world.rank();

  ledger l;
  strata::checkpointer<> ckpt{world, {.directory = dir, .trigger = {.n = every}, .async = async, .replay_log = true}};
  ckpt.protect("ledger", l);
  int bad = 0;
  std::uint64_t replayed = 0;
  auto const v = ckpt.restore_latest([&](strata::checkpoint::log_entry const& e) {
    if (e.index != l.through + 1) {
      std::fprintf(stderr, "rank %d: FAIL: log entry %llu replayed after entry %llu\n", rank,
                   static_cast<unsigned long long>(e.index), static_cast<unsigned long long>(l.through));
      bad = 1;
    }
    l.apply(e.as<entry>(), e.index);
    ++replayed;
  });
  if (world.all_reduce(std::uint64_t(bad), strata::comm::reduce_op::max)) return 3;
  auto const total = world.all_reduce(replayed, strata::comm::reduce_op::sum);
  if (rank == 0) {
    if (v) std::printf("resumed from version %llu", static_cast<unsigned long long>(*v));
    else std::printf("started afresh");
    std::printf(" at step %llu, replayed %llu log entries\n", static_cast<unsigned long long>(l.step),
                static_cast<unsigned long long>(total));
    std::fflush(stdout);
  }
  for (auto s = l.step + 1; s <= steps; ++s) {
    entry const e{s, value_at(rank, s)};
    l.apply(e, ckpt.append_log(e));
    ckpt.step(s);
    // A global reduction per step, as an SPMD code has: no rank runs ahead of another, so a rank
    // killed at a step leaves every rank's log ending at that step.
    (void)world.all_reduce(l.digest, strata::comm::reduce_op::max);
  }
  ckpt.wait();
  auto const digests = world.all_gather(l.digest ^ (l.entries << 40));
  if (rank == 0) {
    std::uint64_t h = 0;
    for (auto d : digests) h = (h ^ d) * 0x100000001b3ull;
    std::printf("ledger %016llx\n", static_cast<unsigned long long>(h));
  }
  return 0;
}
