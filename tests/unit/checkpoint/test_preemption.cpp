// Pre-emption (SPEC O1) in one process: the signal listener, and the checkpointer that checkpoints
// at the next step after a signal and stops (or exits). Several ranks and real signals sent to
// mpiexec or to one rank: tests/fault/preempt.sh.
#include <catch2/catch.hpp>
#include <strata/checkpoint/checkpointer.hpp>
#include <strata/checkpoint/preemption.hpp>
#include <strata/comm/solo.hpp>
#include <strata/trigger/never.hpp>
#include <support/files.hpp>

#include <csignal>
#include <sstream>

#include <sys/wait.h>
#include <unistd.h>

using namespace strata;

namespace {
using never_ckpt = checkpointer<comm::solo, snapshot::full, storage::posix_dir, consistency::coordinated, trigger::never>;

/// A handler of the test's own, so that a signal strata does not catch never ends the test program.
volatile std::sig_atomic_t own_handler_calls = 0;
void own_handler(int) { own_handler_calls = own_handler_calls + 1; }

/// Installs `own_handler` for `s` while it lives, and restores what was there.
struct own_disposition {
  int s;
  struct sigaction before {};
  explicit own_disposition(int sig) : s(sig) {
    struct sigaction sa {};
    sa.sa_handler = own_handler;
    sigemptyset(&sa.sa_mask);
    ::sigaction(s, &sa, &before);
    own_handler_calls = 0;
  }
  ~own_disposition() { ::sigaction(s, &before, nullptr); }
  [[nodiscard]] bool current() const {
    struct sigaction now {};
    ::sigaction(s, nullptr, &now);
    return now.sa_handler == own_handler;
  }
};
}  // namespace

TEST_CASE("preemption::listener counts signals, shares them, and gives them back", "[checkpoint][preemption]") {
  own_disposition const term{SIGTERM}, usr1{SIGUSR1};
  {
    preemption::listener a{{SIGUSR1, SIGTERM, SIGTERM}};
    CHECK_FALSE(term.current());
    CHECK(a.pending() == 0);
    std::raise(SIGUSR1);
    CHECK(a.pending() == SIGUSR1);
    {
      preemption::listener b{{SIGUSR1}};
      CHECK(b.pending() == 0);  // caught before it listened
      std::raise(SIGUSR1);
      CHECK(b.pending() == SIGUSR1);
      a.acknowledge();
      CHECK(a.pending() == 0);
      CHECK(b.pending() == SIGUSR1);  // each listener acknowledges for itself
    }
    CHECK_FALSE(usr1.current());  // a still listens
    std::raise(SIGTERM);
    CHECK(a.pending() == SIGTERM);
    CHECK(own_handler_calls == 0);
    a.release();
    CHECK(term.current());
    CHECK(usr1.current());
  }
  CHECK_THROWS_WITH(preemption::listener({SIGUSR2, SIGKILL}), "strata::preemption::listener: SIGKILL cannot be caught");
  struct sigaction now {};
  ::sigaction(SIGUSR2, nullptr, &now);
  CHECK(now.sa_handler != &preemption::detail::count_signal);  // given back on failure
  CHECK(preemption::signal_name(SIGTERM) == "SIGTERM");
  CHECK(preemption::signal_name(SIGUSR1) == "SIGUSR1");
  CHECK(preemption::signal_name(63) == "signal 63");
}

TEST_CASE("checkpointer: a pre-emption signal checkpoints at the next step, then stop_requested()", "[checkpoint][preemption]") {
  own_disposition const term{SIGTERM};
  test::scratch_dir dir{comm::solo{}, "preempt"};
  std::ostringstream log;
  bool const async = GENERATE(false, true);
  never_ckpt ck{comm::solo{}, {.directory = dir.path(), .async = async, .log = &log}};
  std::uint64_t step = 0;
  ck.protect("step", step);
  CHECK(term.current());  // nothing is caught before the first step
  ck.step(++step);
  CHECK_FALSE(term.current());
  CHECK_FALSE(ck.stop_requested());
  std::raise(SIGTERM);
  CHECK(own_handler_calls == 0);
  CHECK(ck.step(++step));  // step 2: checkpointed, committed (async too)
  CHECK(ck.stop_requested());
  REQUIRE(ck.preempted());
  CHECK(ck.preempted()->signal == SIGTERM);
  CHECK(ck.preempted()->rank == 0);
  CHECK(ck.preempted()->step == 2);
  CHECK(ck.preempted()->version == 1);
  CHECK(ck.versions() == std::vector<std::uint64_t>{1});
  CHECK(log.str() == "strata[rank 0]: pre-emption signal SIGTERM received on rank 0; checkpointing version 1 at step "
                     "2 and stopping\n");
  CHECK(term.current());  // handed back: a second signal acts as without strata

  never_ckpt again{comm::solo{}, {.directory = dir.path(), .log = nullptr}};
  std::uint64_t restored = 0;
  again.protect("step", restored);
  CHECK(again.restore_latest() == 1u);
  CHECK(restored == 2);
}

TEST_CASE("checkpointer: pre-emption checked every check_every steps, or off", "[checkpoint][preemption]") {
  own_disposition const usr1{SIGUSR1};
  test::scratch_dir dir{comm::solo{}, "preempt_every"};
  SECTION("check_every = 3: the signal of step 1 is acted on at step 3") {
    never_ckpt ck{comm::solo{}, {.directory = dir.path(), .log = nullptr, .preemption = {.check_every = 3}}};
    std::uint64_t x = 0;
    ck.protect("x", x);
    ck.step(1);
    std::raise(SIGUSR1);
    CHECK_FALSE(ck.step(2));
    CHECK(ck.step(3));
    CHECK(ck.preempted()->step == 3);
    CHECK(ck.preempted()->signal == SIGUSR1);
  }
  SECTION("{.signals = {}}: no handler, no stop") {
    never_ckpt ck{comm::solo{}, {.directory = dir.path(), .log = nullptr, .preemption = {.signals = {}}}};
    std::uint64_t x = 0;
    ck.protect("x", x);
    ck.step(1);
    CHECK(usr1.current());
    std::raise(SIGUSR1);
    CHECK(own_handler_calls == 1);
    CHECK_FALSE(ck.step(2));
    CHECK_FALSE(ck.stop_requested());
  }
  SECTION("a periodic checkpoint due at the same step is the same checkpoint") {
    checkpointer<comm::solo> ck{comm::solo{}, {.directory = dir.path(), .trigger = {.n = 2}, .log = nullptr}};
    std::uint64_t x = 0;
    ck.protect("x", x);
    ck.step(1);
    std::raise(SIGUSR1);
    CHECK(ck.step(2));
    CHECK(ck.versions() == std::vector<std::uint64_t>{1});
    CHECK(ck.stop_requested());
  }
}

TEST_CASE("checkpointer: on_signal = exit ends the process with exit_status once committed", "[checkpoint][preemption]") {
  test::scratch_dir dir{comm::solo{}, "preempt_exit"};
  std::fflush(nullptr);
  pid_t const child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {  // the child: a solo checkpointer that a SIGTERM ends
    never_ckpt ck{comm::solo{},
                  {.directory = dir.path(), .log = nullptr,
                   .preemption = {.on_signal = preemption::action::exit, .exit_status = 42}}};
    std::uint64_t step = 0;
    ck.protect("step", step);
    ck.step(++step);
    std::raise(SIGTERM);
    ck.step(++step);
    ::_exit(3);  // not reached
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 42);
  CHECK_FALSE(std::filesystem::exists(dir.path() / ".strata.lock"));  // released before the exit
  never_ckpt ck{comm::solo{}, {.directory = dir.path(), .log = nullptr}};
  std::uint64_t step = 0;
  ck.protect("step", step);
  CHECK(ck.restore_latest() == 1u);
  CHECK(step == 2);
}
