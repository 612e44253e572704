// configured_checkpointer: policies chosen at run time behave as the concrete ones. One binary,
// several configurations: the manifests name the held policies, and a checkpoint written through
// the erased types restores with the concrete ones and the reverse (SPEC O2).
#include <catch2/catch.hpp>
#include <strata/checkpoint/configured.hpp>
#include <strata/comm/solo.hpp>
#include <support/files.hpp>

#include <sstream>

using namespace strata;
namespace fs = std::filesystem;

namespace {
using configured = configured_checkpointer<comm::solo>;
using posix_levels = storage::multilevel<storage::posix_dir, storage::posix_dir, 2>;

/// State that changes in part from step to step (so that incremental versions are deltas): the
/// first of its 5 blocks of 64 KiB (all of them dirty would make every version a base).
struct app_state {
  std::vector<double> field = std::vector<double>(40000);
  std::uint64_t step = 0;
  void advance() {
    ++step;
    for (std::size_t i = 0; i < 8000; i += 97) field[(i + step * 13) % 8000] += static_cast<double>(step);
  }
};

checkpoint::configuration config_for(fs::path const& dir, std::string const& snap, std::string const& store) {
  checkpoint::configuration c;
  c.directory = dir;
  c.snapshot = snap;
  c.storage = store;
  c.multilevel_flush_every = 2;
  c.every_n.n = 1;
  c.keep_last.count = 20;
  c.preemption.signals.clear();
  c.log_level = verbosity::quiet;
  return c;
}

/// Runs `steps` steps, checkpointing each, with checkpointer `ck`; returns the final state.
template <class Ckpt>
app_state run(Ckpt& ck, int steps) {
  app_state s;
  ck.protect("field", s.field);
  ck.protect("step", s.step);
  for (int i = 0; i < steps; ++i) {
    s.advance();
    ck.step(s.step);
  }
  ck.wait();
  return s;
}

template <class Ckpt>
app_state restored(Ckpt& ck) {
  app_state s;
  std::fill(s.field.begin(), s.field.end(), -1.0);
  ck.protect("field", s.field);
  ck.protect("step", s.step);
  REQUIRE(ck.restore_latest());
  return s;
}

/// The newest version's manifest (of multilevel storage: on its fast level, which holds every version).
checkpoint::manifest latest_manifest(fs::path const& dir) {
  storage::posix_dir d;
  d.attach(comm::solo{}, fs::exists(dir / "fast") ? dir / "fast" : dir);
  auto const v = d.list().committed.back();
  return checkpoint::manifest::parse(*d.read_commit(v), "test");
}

template <class Snap, class Store>
void round_trip(std::string const& snap, std::string const& store, std::string const& snap_name,
                std::string const& store_name) {
  comm::solo solo;
  using concrete = checkpointer<comm::solo, Snap, Store>;
  typename concrete::options co;
  co.trigger = {.n = 1};
  co.retention = {.count = 20};
  co.preemption.signals.clear();
  co.log_level = verbosity::quiet;
  SECTION("written through the erased types, restored with the concrete ones") {
    test::scratch_dir dir{solo, "cfgd-a"};
    app_state want;
    {
      configured ck{solo, checkpoint::to_options<comm::solo>(config_for(dir, snap, store))};
      want = run(ck, 7);
    }
    auto const m = latest_manifest(dir);
    CHECK(m.snapshot == snap_name);
    CHECK(m.storage == store_name);
    if (snap != "full" && snap_name.find("incremental") != std::string::npos) CHECK(!m.depends_on.empty());
    co.directory = dir.path();
    concrete ck{solo, co};
    auto const got = restored(ck);
    CHECK(got.step == want.step);
    CHECK(got.field == want.field);
  }
  SECTION("written with the concrete types, restored through the erased ones") {
    test::scratch_dir dir{solo, "cfgd-b"};
    app_state want;
    {
      co.directory = dir.path();
      concrete ck{solo, co};
      want = run(ck, 7);
    }
    configured ck{solo, checkpoint::to_options<comm::solo>(config_for(dir, snap, store))};
    auto const got = restored(ck);
    CHECK(got.step == want.step);
    CHECK(got.field == want.field);
    CHECK(ck.current_version() == latest_manifest(dir).version);
  }
}
}  // namespace

TEST_CASE("configured: full over posix round-trips with checkpointer<solo, full, posix_dir>", "[configured]") {
  round_trip<snapshot::full, storage::posix_dir>("full", "posix", "full", "posix_dir");
}
TEST_CASE("configured: incremental over posix round-trips with the concrete types", "[configured]") {
  round_trip<snapshot::incremental<>, storage::posix_dir>("incremental", "posix", "incremental", "posix_dir");
}
#ifdef STRATA_HAVE_ZSTD
TEST_CASE("configured: compressed over multilevel round-trips with the concrete types", "[configured]") {
  round_trip<snapshot::compressed<snapshot::incremental<>>, posix_levels>("compressed", "multilevel",
                                                                          "compressed+incremental", "multilevel");
}
#endif
TEST_CASE("configured: full over multilevel round-trips with the concrete types", "[configured]") {
  round_trip<snapshot::full, posix_levels>("full", "multilevel", "full", "multilevel");
}
TEST_CASE("configured: incremental over multilevel round-trips with the concrete types", "[configured]") {
  round_trip<snapshot::incremental<>, posix_levels>("incremental", "multilevel", "incremental", "multilevel");
}

TEST_CASE("configured: one type, switched by the environment; a mismatched snapshot is refused by name", "[configured]") {
  comm::solo solo;
  test::scratch_dir dir{solo, "cfgd-switch"};
  auto c = config_for(dir, "full", "posix");
  checkpoint::apply_environment(c, {{"STRATA_SNAPSHOT", "incremental"}, {"STRATA_STORAGE", "multilevel"},
                                    {"STRATA_STORAGE_MULTILEVEL_FLUSH_EVERY", "3"}});
  {
    configured ck{solo, checkpoint::to_options<comm::solo>(c)};
    CHECK(ck.storage().target<storage::multilevel<storage::posix_dir, storage::posix_dir,
                                                  storage::flush_interval_at_run_time>>()->flush_every == 3);
    (void)run(ck, 6);
  }
  auto const m = latest_manifest(dir);
  CHECK(m.snapshot == "incremental");
  CHECK(m.storage == "multilevel");
  CHECK(fs::exists(dir.path() / "fast"));   // the fast level's own directory
  storage::posix_dir slow;
  slow.attach(solo, dir.path());
  CHECK(slow.list().committed == std::vector<std::uint64_t>{3, 6});  // every 3rd version on the slow level
  // The same binary with the full snapshot refuses, naming both strategies.
  std::ostringstream log;
  auto o = checkpoint::to_options<comm::solo>(config_for(dir, "full", "multilevel"));
  o.log = &log;
  o.log_level = verbosity::warnings;
  configured full{solo, o};
  app_state s;
  full.protect("field", s.field);
  full.protect("step", s.step);
  CHECK_THROWS_AS(full.restore_latest(), restore_error);
  CHECK_THAT(log.str(), Catch::Contains("written with snapshot 'incremental', this checkpointer uses 'full'"));
}

TEST_CASE("configured: an adaptive trigger sees the change an incremental snapshot measures, and only then",
          "[configured]") {
  comm::solo solo;
  // The same run through the concrete and the erased types: the adaptive intervals must agree, for a
  // snapshot that measures change on every block (incremental) and for one that samples it (full).
  auto intervals = [&]<class Snap>(std::string const& kind) {
    test::scratch_dir d1{solo, "cfgd-ad1"}, d2{solo, "cfgd-ad2"};
    trigger::adaptive const t{.min_steps = 1, .max_steps = 64, .first_steps = 4, .low = 0.02, .high = 0.2,
                              .max_overhead = 0};  // the cost is measured, so two runs would differ
    typename checkpointer<comm::solo, Snap, storage::posix_dir, consistency::coordinated, trigger::adaptive>::options o;
    o.directory = d1.path();
    o.trigger = t;
    o.preemption.signals.clear();
    checkpointer<comm::solo, Snap, storage::posix_dir, consistency::coordinated, trigger::adaptive> a{solo, o};
    auto c = config_for(d2, kind, "posix");
    c.trigger = "adaptive";
    c.adaptive = t;
    configured b{solo, checkpoint::to_options<comm::solo>(c)};
    std::vector<double> x(500000, 1.0), y(500000, 1.0);  // 62 blocks of 64 KiB, one of which changes
    a.protect("x", x);
    b.protect("x", y);
    std::vector<std::uint64_t> ia, ib;
    for (std::uint64_t i = 1; i <= 60; ++i) {
      x[i % 7] += 1;  // a few blocks change
      y[i % 7] += 1;
      a.step(i);
      b.step(i);
      ia.push_back(a.trigger_policy().interval());
      ib.push_back(b.trigger_policy().target<trigger::adaptive>()->interval());
    }
    CHECK(ia == ib);
    return ia;
  };
  auto const inc = intervals.template operator()<snapshot::incremental<>>("incremental");
  auto const full = intervals.template operator()<snapshot::full>("full");
  CHECK(inc != full);  // the measured change made a difference: the comparison above could fail
}

TEST_CASE("configured: option values reach the checkpointer, bad ones are refused at construction", "[configured]") {
  comm::solo solo;
  test::scratch_dir dir{solo, "cfgd-opts"};
  auto c = config_for(dir, "full", "posix");
  c.async = false;
  c.lock_lease_seconds = 7;
  c.allow_resize = false;
  c.trigger = "every_seconds";
  c.every_seconds.seconds = 0.25;
  auto const o = checkpoint::to_options<comm::solo>(c);
  CHECK(o.lock_lease.count() == 7);
  CHECK_FALSE(o.allow_resize);
  CHECK(o.trigger.target<trigger::every_seconds>()->seconds == 0.25);
  CHECK_FALSE(o.trigger.deterministic());
  CHECK(snapshot::name_of(o.snapshot) == "full");
  c.every_seconds.seconds = -1;
  CHECK_THROWS_WITH((configured{solo, checkpoint::to_options<comm::solo>(c)}),
                    Catch::Contains("checkpointer option .trigger: every_seconds{.seconds = -1}"));
  c = config_for(dir, "full", "multilevel");
  c.multilevel_flush_every = 0;
  CHECK_THROWS_WITH((configured{solo, checkpoint::to_options<comm::solo>(c)}),
                    Catch::Contains("checkpointer option .storage: multilevel{.flush_every = 0}"));
  c = config_for(dir, "full", "mpiio");
  CHECK_THROWS_WITH(checkpoint::to_options<comm::solo>(c), Catch::Contains("'mpiio' needs strata::comm::mpi"));
}
