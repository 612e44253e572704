// The checkpointer's options (SPEC O6): the declaration order designated initialisers follow, one
// sentence naming the option for every value that cannot work, resizes on restore logged or refused.
#include <catch2/catch.hpp>
#include <strata/strata.hpp>
#include <strata/trigger/never.hpp>
#include <support/files.hpp>

#include <cmath>
#include <csignal>
#include <functional>
#include <limits>
#include <sstream>

using namespace strata;

namespace {
using solo_ckpt = checkpointer<comm::solo>;

/// The `usage_error` a checkpointer of type `Ckpt` throws at construction with `o` (empty: none).
template <class Ckpt = solo_ckpt>
std::string refusal(typename Ckpt::options o) {
  test::scratch_dir dir{comm::solo{}, "options"};
  if (!o.directory.empty()) o.directory = dir.path();
  o.log = nullptr;
  try {
    Ckpt ck{comm::solo{}, o};
  } catch (usage_error const& e) {
    return e.what();
  }
  return {};
}

template <class Trigger>
using with_trigger = checkpointer<comm::solo, snapshot::full, storage::posix_dir, consistency::coordinated, Trigger>;

constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();
constexpr double infinite = std::numeric_limits<double>::infinity();
}  // namespace

TEST_CASE("options: every member, in declaration order, as designated initialisers", "[checkpoint][options]") {
  test::scratch_dir dir{comm::solo{}, "all_options"};
  // The order docs/checkpointing.md and checkpointer.hpp document; this must keep compiling.
  solo_ckpt::options const all{
      .directory = dir.path(),
      .trigger = {.n = 10},
      .retention = {.count = 2},
      .snapshot = {.block_bytes = 4096},
      .storage = {},
      .consistency = {},
      .verify_after_write = true,
      .check_free_space = true,
      .async = false,
      .memory_limit_bytes = 0,
      .log_level = verbosity::warnings,
      .log = nullptr,
      .lock_directory = true,
      .lock_lease = std::chrono::duration<double>(30.0),
      .preemption = {.signals = {SIGTERM, SIGUSR1}, .on_signal = preemption::action::stop, .exit_status = 0,
                     .check_every = 1},
      .allow_resize = true,
      .metrics = nullptr,
      .metrics_file = {},
      .metrics_period = std::chrono::duration<double>(0.0),
      .progress_after = std::chrono::duration<double>(5.0),
      .replay_log = false,
      .log_directory = {},
      .log_fsync = replay::fsync_policy::every_record,
  };
  solo_ckpt ck{comm::solo{}, all};
  std::uint64_t x = 0;
  ck.protect("x", x);
  CHECK(ck.settings().allow_resize);
  for (std::uint64_t i = 1; i <= 20; ++i) ck.step(i);
  CHECK(ck.versions() == std::vector<std::uint64_t>{1, 2});
  CHECK_FALSE(ck.stop_requested());
}

TEST_CASE("options: a value that cannot work is one sentence naming the option", "[checkpoint][options]") {
  using o_t = solo_ckpt::options;
  auto with = [](std::function<void(o_t&)> change) {
    o_t o;
    o.directory = "set by refusal()";
    change(o);
    return refusal(o);
  };
  CHECK(with([](o_t&) {}).empty());
  CHECK(with([](o_t& o) { o.directory.clear(); }) ==
        "checkpointer option .directory is empty; name the directory that holds the checkpoints");
  CHECK(with([](o_t& o) { o.lock_lease = std::chrono::duration<double>(-1); }) ==
        "checkpointer option .lock_lease is -1 s; it must be a finite number of seconds above 0");
  CHECK(with([](o_t& o) { o.lock_lease = std::chrono::duration<double>(not_a_number); }).starts_with(
      "checkpointer option .lock_lease is nan s;"));
  CHECK(with([](o_t& o) { o.lock_lease = std::chrono::duration<double>(infinite); }).starts_with(
      "checkpointer option .lock_lease is inf s;"));
  CHECK(with([](o_t& o) { o.metrics_period = std::chrono::duration<double>(-1); }) ==
        "checkpointer option .metrics_period is -1 s; it must be a finite number of seconds, 0 or more (0: at every "
        "commit and restore)");
  CHECK(with([](o_t& o) { o.progress_after = std::chrono::duration<double>(0); }) ==
        "checkpointer option .progress_after is 0 s; it must be a number of seconds above 0 (infinity: no progress "
        "lines)");
  CHECK(with([](o_t& o) { o.progress_after = std::chrono::duration<double>(infinite); }).empty());
  CHECK(with([](o_t& o) { o.log_level = static_cast<verbosity>(7); }) ==
        "checkpointer option .log_level is 7, not a strata::verbosity (quiet, warnings or info)");
  CHECK(with([](o_t& o) { o.trigger = {.n = 0}; }) ==
        "checkpointer option .trigger: every_n{.n = 0}: would never checkpoint; use strata::trigger::never for "
        "checkpoints on demand only (checkpoint(), pre-emption)");
  CHECK(with([](o_t& o) { o.retention = {.count = 0}; }) ==
        "checkpointer option .retention: keep_last{.count = 0}: must be at least 1 (0 would keep no version)");
  CHECK(with([](o_t& o) { o.snapshot = {.block_bytes = 0}; }) ==
        "checkpointer option .snapshot: full{.block_bytes = 0}: must be at least 1");
  CHECK(with([](o_t& o) { o.preemption.signals = {SIGTERM, SIGKILL}; }) ==
        "checkpointer option .preemption: preemption{.signals = {SIGTERM, SIGKILL}}: SIGKILL cannot be caught; use "
        "SIGTERM, SIGUSR1 or SIGUSR2 ({} turns pre-emption off)");
  CHECK(with([](o_t& o) { o.preemption.signals = {SIGSEGV}; }) ==
        "checkpointer option .preemption: preemption{.signals = {SIGSEGV}}: SIGSEGV reports a fault in the program, "
        "not a pre-emption; use SIGTERM, SIGUSR1 or SIGUSR2 ({} turns pre-emption off)");
  CHECK(with([](o_t& o) { o.preemption.signals = {0}; }).starts_with(
      "checkpointer option .preemption: preemption{.signals = {signal 0}}: signal 0 is not a signal number;"));
  CHECK(with([](o_t& o) {
          o.preemption.signals = {SIGUSR1, SIGUSR2, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGALRM, SIGXCPU, SIGPWR};
        }) == "checkpointer option .preemption: preemption{.signals = {SIGUSR1, SIGUSR2, SIGTERM, SIGINT, SIGHUP, "
              "SIGQUIT, SIGALRM, SIGXCPU, ...}}: holds more than 8 signals");
  CHECK(with([](o_t& o) { o.preemption.check_every = 0; }) ==
        "checkpointer option .preemption: preemption{.check_every = 0}: must be at least 1 (steps between two "
        "agreements)");
  CHECK(with([](o_t& o) { o.preemption.exit_status = 256; }) ==
        "checkpointer option .preemption: preemption{.exit_status = 256}: must be an exit status from 0 to 255");
}

TEST_CASE("options: clock and adaptive triggers, incremental snapshots", "[checkpoint][options][trigger]") {
  auto seconds = [](double s) {
    with_trigger<trigger::every_seconds>::options o;
    o.trigger = trigger::every_seconds{s};
    return refusal<with_trigger<trigger::every_seconds>>(o);
  };
  CHECK(seconds(600).empty());
  CHECK(seconds(-1) ==
        "checkpointer option .trigger: every_seconds{.seconds = -1}: must be a finite number of seconds above 0");
  CHECK(seconds(0).starts_with("checkpointer option .trigger: every_seconds{.seconds = 0}:"));
  CHECK(seconds(not_a_number).starts_with("checkpointer option .trigger: every_seconds{.seconds = nan}:"));
  CHECK(seconds(infinite).starts_with("checkpointer option .trigger: every_seconds{.seconds = inf}:"));

  auto young_daly = [](trigger::young_daly t) {
    with_trigger<trigger::young_daly>::options o;
    o.trigger = t;
    return refusal<with_trigger<trigger::young_daly>>(o);
  };
  CHECK(young_daly({}).empty());
  CHECK(young_daly({.mtbf_seconds = 0}) ==
        "checkpointer option .trigger: young_daly{.mtbf_seconds = 0}: must be a finite number of seconds above 0");
  CHECK(young_daly({.min_seconds = -2}) == "checkpointer option .trigger: young_daly{.min_seconds = -2}: must be a "
                                           "finite number of seconds, 0 or more");
  CHECK(young_daly({.min_seconds = 10, .max_seconds = 5}) ==
        "checkpointer option .trigger: young_daly{.min_seconds = 10}: is above .max_seconds = 5");
  CHECK(young_daly({.window = 0}) ==
        "checkpointer option .trigger: young_daly{.window = 0}: must be at least 1 (checkpoint costs averaged)");

  auto adaptive = [](trigger::adaptive t) {
    with_trigger<trigger::adaptive>::options o;
    o.trigger = t;
    return refusal<with_trigger<trigger::adaptive>>(o);
  };
  CHECK(adaptive({}).empty());
  CHECK(adaptive({.min_steps = 0}) == "checkpointer option .trigger: adaptive{.min_steps = 0}: must be at least 1");
  CHECK(adaptive({.min_steps = 50, .max_steps = 20}) ==
        "checkpointer option .trigger: adaptive{.max_steps = 20}: is below .min_steps = 50");
  CHECK(adaptive({.first_steps = 5000}) == "checkpointer option .trigger: adaptive{.first_steps = 5000}: must lie "
                                           "in [.min_steps, .max_steps] = [10, 1000]");
  CHECK(adaptive({.low = 0.5, .high = 0.2}) ==
        "checkpointer option .trigger: adaptive{.high = 0.2}: must be a fraction in [.low, 1] = [0.5, 1]");
  CHECK(adaptive({.low = not_a_number}) == "checkpointer option .trigger: adaptive{.low = nan}: must be a fraction in [0, 1]");

  using inc_ckpt = checkpointer<comm::solo, snapshot::incremental<>>;
  CHECK(refusal<inc_ckpt>({.directory = "set", .snapshot = {.max_chain = 0}}) ==
        "checkpointer option .snapshot: incremental{.max_chain = 0}: must be at least 1 (1: every version a full base)");
#ifdef STRATA_HAVE_ZSTD
  using zstd_ckpt = checkpointer<comm::solo, snapshot::compressed<>>;
  CHECK(refusal<zstd_ckpt>({.directory = "set", .snapshot = {.codec = {.level = 99}}})
            .starts_with("checkpointer option .snapshot: zstd_codec{.level = 99}: is not a zstd level ("));
#endif
}

TEST_CASE("trigger::never: no periodic checkpoint, checkpoint() still works", "[checkpoint][trigger]") {
  test::scratch_dir dir{comm::solo{}, "never"};
  with_trigger<trigger::never> ck{comm::solo{}, {.directory = dir.path(), .log = nullptr}};
  std::uint64_t x = 0;
  ck.protect("x", x);
  bool any = false;
  for (std::uint64_t i = 1; i <= 1000; ++i) any = ck.step(i) || any;
  CHECK_FALSE(any);
  CHECK(ck.versions().empty());
  CHECK(ck.checkpoint() == 1u);
  CHECK(ck.versions() == std::vector<std::uint64_t>{1});
}

TEST_CASE("options: a restore that resizes a container is logged, or refused by .allow_resize", "[checkpoint][options]") {
  test::scratch_dir dir{comm::solo{}, "resize"};
  {
    std::vector<double> v(10, 1.5);
    solo_ckpt ck{comm::solo{}, {.directory = dir.path(), .log = nullptr}};
    ck.protect("v", v);
    ck.checkpoint();
  }
  auto restore_into = [&](std::vector<double>& v, bool allow, verbosity level) {
    std::ostringstream log;
    solo_ckpt ck{comm::solo{}, {.directory = dir.path(), .log_level = level, .log = &log, .allow_resize = allow}};
    ck.protect("v", v);
    ck.restore_latest();
    return log.str();
  };
  SECTION("a container that held elements: a warning") {
    std::vector<double> v(5, 0.0);
    auto const log = restore_into(v, true, verbosity::warnings);
    CHECK(v == std::vector<double>(10, 1.5));
    CHECK(log == "strata[rank 0]: warning: restore resizes region 'v' from 5 to 10 elements (its size in version 1); "
                 ".allow_resize = false refuses this\n");
  }
  SECTION("an empty container: an info line") {
    std::vector<double> v;
    CHECK(restore_into(v, true, verbosity::warnings).empty());
    v.clear();
    CHECK_THAT(restore_into(v, true, verbosity::info),
               Catch::Contains("strata[rank 0]: restore resizes region 'v' from 0 to 10 elements (its size in version 1)\n"));
  }
  SECTION("refused with .allow_resize = false, the state untouched") {
    std::vector<double> v(5, 0.0);
    CHECK_THROWS_WITH(restore_into(v, false, verbosity::warnings),
                      "rank 0: cannot restore region 'v': the restore would resize it from 5 to 10 elements (its size "
                      "in version 1) and option .allow_resize is false");
    CHECK(v == std::vector<double>(5, 0.0));
  }
  SECTION("the same size: nothing to say") {
    std::vector<double> v(10, 0.0);
    CHECK(restore_into(v, false, verbosity::info).find("resizes") == std::string::npos);
    CHECK(v == std::vector<double>(10, 1.5));
  }
}
