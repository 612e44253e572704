#include <catch2/catch.hpp>
#include <strata/schedule/task.hpp>

using namespace strata::schedule;

TEST_CASE("task follows the R1 state machine", "[schedule][task]") {
  STATIC_REQUIRE(task_like<task>);
  task t{7, {std::byte{1}}, {.max_retries = 1}};
  CHECK(t.status() == task_status::pending);
  t.start();
  CHECK(t.status() == task_status::running);
  CHECK(t.attempts() == 1);
  t.fail("boom");
  CHECK(t.status() == task_status::failed);
  CHECK(t.failure_reason() == "boom");
  REQUIRE(t.can_retry());
  t.retry();
  CHECK(t.status() == task_status::pending);
  CHECK(t.retries_left() == 0);
  t.start();
  t.fail("again");
  CHECK_FALSE(t.can_retry());
  CHECK_THROWS_WITH(t.retry(), Catch::Contains("retry budget of 1 spent") && Catch::Contains("again"));
  CHECK(t.status() == task_status::failed);
}

TEST_CASE("illegal transitions are refused with a clear error and leave the task unchanged", "[schedule][task]") {
  task t{3, {}};
  CHECK_THROWS_AS(t.succeed(), transition_error);
  CHECK_THROWS_WITH(t.succeed(), Catch::Contains("task 3: illegal transition pending -> succeeded"));
  CHECK_THROWS_AS(t.fail("x"), transition_error);
  CHECK_THROWS_AS(t.retry(), transition_error);
  CHECK(t.status() == task_status::pending);
  t.start();
  CHECK_THROWS_AS(t.start(), transition_error);
  t.succeed();
  CHECK_THROWS_AS(t.start(), transition_error);
  CHECK_THROWS_AS(t.fail("late"), transition_error);
  CHECK_THROWS_AS(t.retry(), transition_error);
  CHECK(t.status() == task_status::succeeded);
}

TEST_CASE("expired tasks fail with a reason and cannot be retried", "[schedule][task]") {
  auto const t0 = clock::now();
  task t{9, {}, {.ttl = seconds{2.0}}, t0};
  CHECK_FALSE(t.expired(t0 + std::chrono::seconds(1)));
  CHECK(t.expired(t0 + std::chrono::seconds(2)));
  t.expire(t0 + std::chrono::seconds(3));
  CHECK(t.status() == task_status::failed);
  CHECK_THAT(t.failure_reason(), Catch::StartsWith("expired after 3"));
  CHECK_FALSE(t.can_retry());
  CHECK_THROWS_WITH(t.retry(), Catch::Contains("expired"));
  task never{10, {}};
  CHECK_FALSE(never.expired(t0 + std::chrono::hours(1000)));
}

TEST_CASE("task rejects out-of-range inputs", "[schedule][task]") {
  CHECK_THROWS_AS((task{1, {}, {.resource_demand = 1.5}}), strata::usage_error);
  CHECK_THROWS_AS((task{1, {}, {.ttl = seconds{-1}}}), strata::usage_error);
}
