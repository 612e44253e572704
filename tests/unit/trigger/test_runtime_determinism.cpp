// A trigger may say at run time whether its decisions agree across ranks (`t.deterministic()`);
// the checkpointer then adds no collective per step for a deterministic one (pre-emption off; while
// on, one all-reduce every `check_every` steps, shared with the trigger's).
#include <catch2/catch.hpp>
#include <strata/checkpoint/checkpointer.hpp>
#include <strata/comm/solo.hpp>
#include <strata/trigger/every_n.hpp>
#include <strata/trigger/every_seconds.hpp>
#include <support/files.hpp>

#include <memory>
#include <variant>

using namespace strata;

namespace {
/// comm::solo that counts its all-reduces (the per-step agreement is one).
struct counting_comm : comm::solo {
  std::shared_ptr<std::uint64_t> reduces = std::make_shared<std::uint64_t>(0);
  [[nodiscard]] std::uint64_t all_reduce(std::uint64_t v, comm::reduce_op op) const {
    ++*reduces;
    return comm::solo::all_reduce(v, op);
  }
  [[nodiscard]] double all_reduce(double v, comm::reduce_op op) const {
    ++*reduces;
    return comm::solo::all_reduce(v, op);
  }
};

/// One type for a trigger chosen at run time (as heat2d does).
struct chosen_trigger {
  std::variant<trigger::every_n, trigger::every_seconds> t;
  [[nodiscard]] bool deterministic() const {
    return std::visit([](auto const& x) { return !trigger::needs_agreement(x); }, t);
  }
  bool due(std::uint64_t step, trigger::clock::time_point now) {
    return std::visit([&](auto& x) { return static_cast<bool>(x.due(step, now)); }, t);
  }
  void record(trigger::feedback const& f) {
    std::visit([&](auto& x) { x.record(f); }, t);
  }
};

/// A run-time flag only.
struct runtime_flag {
  bool det = true;
  [[nodiscard]] bool deterministic() const { return det; }
  bool due(std::uint64_t, trigger::clock::time_point) const { return false; }
  void record(trigger::feedback const&) const {}
};

/// All-reduces over `steps` steps; pre-emption off unless `pre` says otherwise.
template <class Trigger>
std::uint64_t reduces_over_steps(Trigger t, std::uint64_t steps, std::uint64_t* taken = nullptr,
                                 preemption::options pre = {.signals = {}}) {
  test::scratch_dir dir{comm::solo{}, "det"};
  counting_comm c;
  using ck_t = checkpointer<counting_comm, snapshot::full, storage::posix_dir, consistency::coordinated, Trigger>;
  typename ck_t::options o;
  o.directory = dir.path();
  o.trigger = t;
  o.log = nullptr;
  o.preemption = pre;
  ck_t ck{c, o};
  std::uint64_t x = 0;
  ck.protect("x", x);
  auto const before = *c.reduces;
  std::uint64_t n = 0;
  for (std::uint64_t i = 1; i <= steps; ++i) n += ck.step(i) ? 1 : 0;
  if (taken) *taken = n;
  return *c.reduces - before;
}
}  // namespace

static_assert(trigger::policy<chosen_trigger> && trigger::runtime_determinism<chosen_trigger>);
static_assert(trigger::policy<trigger::every_n> && trigger::static_determinism<trigger::every_n>);
static_assert(!trigger::needs_agreement(trigger::every_n{}));

TEST_CASE("runtime determinism: no per-step collective for a deterministic trigger", "[trigger]") {
  std::uint64_t taken = 0;
  SECTION("run-time every_n: no all-reduce on the steps without a checkpoint") {
    CHECK(chosen_trigger{trigger::every_n{1000}}.deterministic());
    CHECK(reduces_over_steps(chosen_trigger{trigger::every_n{1000}}, 50, &taken) == 0);
    CHECK(taken == 0);
  }
  SECTION("run-time every_seconds: one all-reduce per step") {
    CHECK_FALSE(chosen_trigger{trigger::every_seconds{3600.0}}.deterministic());
    CHECK(reduces_over_steps(chosen_trigger{trigger::every_seconds{3600.0}}, 50, &taken) == 50);
    CHECK(taken == 0);
  }
  SECTION("static forms keep working") {
    CHECK(reduces_over_steps(trigger::every_n{1000}, 50) == 0);
    CHECK(reduces_over_steps(trigger::every_seconds{3600.0}, 50) == 50);
  }
  SECTION("run-time every_n still checkpoints when due") {
    CHECK(reduces_over_steps(chosen_trigger{trigger::every_n{10}}, 30, &taken) > 0);
    CHECK(taken == 3);
  }
  SECTION("the run-time answer decides") {
    CHECK(reduces_over_steps(runtime_flag{.det = true}, 20) == 0);
    CHECK(reduces_over_steps(runtime_flag{.det = false}, 20) == 20);
  }
}

TEST_CASE("runtime determinism: pre-emption costs one all-reduce per check, shared with the trigger's", "[trigger]") {
  SECTION("a deterministic trigger: one per step by default, one per check_every steps") {
    CHECK(reduces_over_steps(trigger::every_n{1000}, 50, nullptr, {}) == 50);
    CHECK(reduces_over_steps(trigger::every_n{1000}, 50, nullptr, {.check_every = 10}) == 5);
  }
  SECTION("a trigger that needs agreement: still one per step") {
    CHECK(reduces_over_steps(trigger::every_seconds{3600.0}, 50, nullptr, {}) == 50);
    CHECK(reduces_over_steps(trigger::every_seconds{3600.0}, 50, nullptr, {.check_every = 10}) == 50);
  }
}
