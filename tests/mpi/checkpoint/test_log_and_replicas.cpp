// The application log (SPEC R9: checkpoint + replay of the entries after it) and the cross-rank
// state check after a restore (SPEC R10d), under real mpiexec (registered at n = 1, 2, 4).
#include <catch2/catch.hpp>
#include <strata/strata.hpp>
#include <support/files.hpp>

#include <fstream>
#include <sstream>

using namespace strata;
namespace fs = std::filesystem;

namespace {
using ckpt_t = checkpointer<comm::mpi>;

ckpt_t::options log_opts(fs::path const& dir, std::ostream* log = nullptr) {
  return {.directory = dir, .trigger = {.n = 1000}, .log = log, .replay_log = true};
}

/// State the log's entries change: a sum, how many were applied, and the last index applied.
struct account {
  std::uint64_t sum = 0;
  std::uint64_t count = 0;
  std::uint64_t through = 0;  ///< the index of the last entry applied (to see none applied twice)
};

std::uint64_t value_of(int rank, std::uint64_t i) { return i * 1000 + static_cast<std::uint64_t>(rank) + 1; }

/// Appends entries `first..last` (rank-dependent values) and applies them.
void append_range(ckpt_t& ckpt, account& a, int rank, std::uint64_t first, std::uint64_t last) {
  for (auto i = first; i <= last; ++i) {
    REQUIRE(ckpt.append_log(value_of(rank, i)) == i);
    a.sum += value_of(rank, i);
    ++a.count;
    a.through = i;
  }
}

account expected(int rank, std::uint64_t last) {
  account a;
  for (std::uint64_t i = 1; i <= last; ++i) a.sum += value_of(rank, i);
  a.count = last;
  a.through = last;
  return a;
}

fs::path wal_of(fs::path const& dir, int rank) { return dir / ".strata.log" / ("rank-" + std::to_string(rank) + ".wal"); }
}  // namespace

TEST_CASE("log entries after the restored version are replayed in order, each once, also when the restore is redone",
          "[mpi][log]") {
  comm::mpi world;
  int const r = world.rank();
  test::scratch_dir dir{world, "log-replay"};
  {
    account a;
    ckpt_t ckpt{world, log_opts(dir)};
    ckpt.protect("account", a);
    append_range(ckpt, a, r, 1, 5);
    REQUIRE(ckpt.checkpoint() == 1);
    append_range(ckpt, a, r, 6, 9);
  }
  {
    replay::wal const w{wal_of(dir, r)};
    CHECK(w.base_index() == 5);  // the commit of version 1 dropped the entries it includes
    CHECK(w.last_index() == 9);
  }
  std::uint64_t old_term = 0;
  for (int attempt = 0; attempt < 2; ++attempt) {  // the second restore redoes the first one's replay
    account a;
    std::vector<std::uint64_t> seen;
    ckpt_t ckpt{world, log_opts(dir)};
    ckpt.protect("account", a);
    auto const v = ckpt.restore_latest([&](checkpoint::log_entry const& e) {
      REQUIRE(e.index == a.through + 1);
      a.sum += e.as<std::uint64_t>();
      ++a.count;
      a.through = e.index;
      seen.push_back(e.index);
      if (attempt == 0) old_term = e.term;
      else if (e.index <= 9) CHECK(e.term == old_term);
    });
    REQUIRE(v == std::optional<std::uint64_t>(1));
    auto const want = expected(r, attempt == 0 ? 9 : 10);
    CHECK(a.sum == want.sum);
    CHECK(a.count == want.count);
    if (attempt == 0) {
      CHECK(seen == std::vector<std::uint64_t>{6, 7, 8, 9});
      append_range(ckpt, a, r, 10, 10);  // goes on at the next index
    } else {
      CHECK(seen == std::vector<std::uint64_t>{6, 7, 8, 9, 10});
    }
  }
  replay::wal const w{wal_of(dir, r)};
  auto const entries = w.entries();
  REQUIRE(entries.size() == 5);
  CHECK(entries.back().term > entries.front().term);  // entry 10 was appended by a later incarnation
}

TEST_CASE("entries appended before any checkpoint are replayed onto the initial state", "[mpi][log]") {
  comm::mpi world;
  test::scratch_dir dir{world, "log-start"};
  {
    account a;
    ckpt_t ckpt{world, log_opts(dir)};
    ckpt.protect("account", a);
    append_range(ckpt, a, world.rank(), 1, 3);
  }
  account a;
  ckpt_t ckpt{world, log_opts(dir)};
  ckpt.protect("account", a);
  CHECK_FALSE(ckpt.restore_latest([&](checkpoint::log_entry const& e) {
    a.sum += e.as<std::uint64_t>();
    ++a.count;
    a.through = e.index;
  }));
  CHECK(a.sum == expected(world.rank(), 3).sum);
  CHECK(a.through == 3);
}

TEST_CASE("restore_latest() without a replay function refuses entries pending on any rank", "[mpi][log]") {
  comm::mpi world;
  int const last = world.size() - 1;
  test::scratch_dir dir{world, "log-pending"};
  {
    account a;
    ckpt_t ckpt{world, log_opts(dir)};
    ckpt.protect("account", a);
    append_range(ckpt, a, world.rank(), 1, 2);
    ckpt.checkpoint();
    if (world.rank() == last) append_range(ckpt, a, world.rank(), 3, 3);
  }
  account a;
  ckpt_t ckpt{world, log_opts(dir)};
  ckpt.protect("account", a);
  REQUIRE_THROWS_WITH(ckpt.restore_latest(), Catch::Contains("rank " + std::to_string(last)) &&
                                                 Catch::Contains("holds 1 entries appended after version 1") &&
                                                 Catch::Contains("restore_latest(replay)"));
  CHECK(a.count == 0);  // the state was not touched
}

TEST_CASE("a log truncated past the version restored instead is refused, naming the entries dropped", "[mpi][log]") {
  comm::mpi world;
  test::scratch_dir dir{world, "log-gap"};
  {
    account a;
    ckpt_t ckpt{world, log_opts(dir)};
    ckpt.protect("account", a);
    append_range(ckpt, a, world.rank(), 1, 3);
    ckpt.checkpoint();
    append_range(ckpt, a, world.rank(), 4, 5);
    ckpt.checkpoint();  // drops entries 4 and 5: version 2 includes them
  }
  world.barrier();
  if (world.rank() == 0) test::flip_bit(test::shard_path(dir, 2, 0), 20);  // version 2 unusable
  world.barrier();
  account a;
  ckpt_t ckpt{world, log_opts(dir)};
  ckpt.protect("account", a);
  REQUIRE_THROWS_WITH(ckpt.restore_latest([](checkpoint::log_entry const&) {}),
                      Catch::Contains("version 1 includes the application log through index 3") &&
                          Catch::Contains("entries 4 to 5 were dropped"));
}

TEST_CASE("a log with a repeated index is refused at construction, naming both indices", "[mpi][log]") {
  comm::mpi world;
  test::scratch_dir dir{world, "log-repeat"};
  {
    account a;
    ckpt_t ckpt{world, log_opts(dir)};
    ckpt.protect("account", a);
    append_range(ckpt, a, world.rank(), 1, 3);
  }
  if (world.rank() == 0) {  // rank 0's last record written twice: its checksum holds, its index repeats
    auto const p = wal_of(dir, 0);
    std::ifstream in{p, std::ios::binary};
    std::string bytes{std::istreambuf_iterator<char>(in), {}};
    std::ofstream{p, std::ios::binary | std::ios::app} << bytes.substr(bytes.size() - 40);
  }
  world.barrier();
  REQUIRE_THROWS_WITH((ckpt_t{world, log_opts(dir)}),
                      Catch::Contains("rank 0") && Catch::Contains("index 3 where 4 was expected") &&
                          Catch::Contains("a repeated index"));
}

TEST_CASE("restore(version) replays nothing and keeps the later entries aside", "[mpi][log]") {
  comm::mpi world;
  int const r = world.rank();
  test::scratch_dir dir{world, "log-branch"};
  {
    account a;
    ckpt_t ckpt{world, log_opts(dir)};
    ckpt.protect("account", a);
    append_range(ckpt, a, r, 1, 2);
    ckpt.checkpoint();
    append_range(ckpt, a, r, 3, 4);
  }
  account a;
  ckpt_t ckpt{world, log_opts(dir)};
  ckpt.protect("account", a);
  CHECK(ckpt.restore(1) == 1);
  CHECK(a.sum == expected(r, 2).sum);
  CHECK(ckpt.append_log(std::uint64_t{7}) == 3);  // the log goes on from the version
  auto const aside = fs::path(wal_of(dir, r).string() + ".branch-1");
  REQUIRE(fs::exists(aside));
  CHECK(replay::wal{aside}.last_index() == 4);
}

TEST_CASE("append_log without .replay_log is a usage error", "[mpi][log]") {
  comm::mpi world;
  test::scratch_dir dir{world, "log-off"};
  ckpt_t ckpt{world, {.directory = dir}};
  REQUIRE_THROWS_AS(ckpt.append_log(std::uint64_t{1}), usage_error);
}

namespace {
/// Replicated state (parameters, a resizable list, a counter) and a per-rank value.
struct model {
  std::vector<double> params = std::vector<double>(64);
  std::vector<std::int32_t> list;
  std::uint64_t step = 0;
  double mine = 0;
  void set(int rank) {
    for (std::size_t i = 0; i < params.size(); ++i) params[i] = 0.5 * static_cast<double>(i);
    list = {1, 2, 3};
    step = 40;
    mine = rank;
  }
  void protect(ckpt_t& c) {
    c.protect("params", params, replicated{});
    c.protect("list", list, replicated{});
    c.protect("step", step, replicated{});
    c.protect("mine", mine);
  }
};
}  // namespace

TEST_CASE("a replicated region that differs on a minority of ranks is repaired from the majority", "[mpi][replicas]") {
  comm::mpi world;
  int const r = world.rank(), last = world.size() - 1;
  test::scratch_dir dir{world, "replicas"};
  {
    model m;
    m.set(r);
    if (world.size() >= 3 && r == last) {  // silent corruption on one rank before the checkpoint
      m.params[7] += 1e-9;
      m.list.push_back(4);
    }
    ckpt_t ckpt{world, {.directory = dir}};
    m.protect(ckpt);
    ckpt.checkpoint();
  }
  model m, want;
  want.set(r);
  std::ostringstream log;
  ckpt_t ckpt{world, {.directory = dir, .log = &log}};
  m.protect(ckpt);
  REQUIRE(ckpt.restore_latest() == std::optional<std::uint64_t>(1));
  CHECK(m.params == want.params);
  CHECK(m.list == want.list);
  CHECK(m.mine == r);
  if (world.size() >= 3) {
    if (r == last) {
      CHECK_THAT(log.str(), Catch::Contains("replicated region 'params' of version 1 differed here (host"));
      CHECK_THAT(log.str(), Catch::Contains("replicated region 'list' of version 1 differed here"));
    }
    if (r == 0)
      CHECK_THAT(log.str(), Catch::Contains("rank " + std::to_string(last) + " held a copy that differs") &&
                                Catch::Contains("repaired from rank 0"));
  } else {
    CHECK(log.str().find("differ") == std::string::npos);
  }
}

TEST_CASE("a replicated region with no majority copy fails the restore on every rank", "[mpi][replicas]") {
  comm::mpi world;
  if (world.size() < 2) return;  // one rank always agrees with itself
  int const r = world.rank();
  test::scratch_dir dir{world, "replicas-split"};
  {
    model m;
    m.set(r);
    if (2 * r >= world.size()) m.step = 41;  // half the ranks: no copy is held by more than half
    ckpt_t ckpt{world, {.directory = dir}};
    m.protect(ckpt);
    ckpt.checkpoint();
  }
  model m;
  ckpt_t ckpt{world, {.directory = dir}};
  m.protect(ckpt);
  REQUIRE_THROWS_WITH(ckpt.restore_latest(), Catch::Contains("replicated region 'step' of version 1 differs") &&
                                                 Catch::Contains("no copy is held by a majority") &&
                                                 Catch::Contains(world.size() == 2 ? "rank 0 hold" : "ranks 0, 1 hold"));
}

TEST_CASE("compare_state names the ranks whose digest differs from the majority", "[mpi][replicas]") {
  comm::mpi world;
  test::scratch_dir dir{world, "digest"};
  ckpt_t ckpt{world, {.directory = dir, .log_level = verbosity::quiet}};
  CHECK(ckpt.compare_state(42).agreed());
  if (world.size() >= 3) {
    auto const a = ckpt.compare_state(world.rank() == 1 ? 7 : 42, "the optimizer state");
    CHECK(a.differing == std::vector<int>{1});
    CHECK(a.source == 0);
  } else if (world.size() == 2) {
    REQUIRE_THROWS_WITH(ckpt.compare_state(static_cast<std::uint64_t>(world.rank()), "the optimizer state"),
                        Catch::Contains("the optimizer state differs across the 2 ranks"));
  }
}
