#pragma once
/// \file
/// \brief `schedule::task`: the unit of work and its state machine (SPEC R1).
///
/// Status moves only along `pending -> running -> succeeded | failed`, and
/// `failed -> pending` while the retry budget lasts. A task past its
/// time-to-live is moved to `failed` with the reason "expired" (from pending or
/// running), never dropped. Any other move throws `transition_error`.

#include <strata/error.hpp>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strata::schedule {

/// \brief The clock every scheduling decision is taken on.
using clock = std::chrono::steady_clock;
/// \brief Seconds as a double, the unit of every scheduling duration.
using seconds = std::chrono::duration<double>;
/// \brief A task's identifier, unique within one job (and across its restarts).
using task_id = std::uint64_t;

/// \brief Where a task is in its life (SPEC R1).
enum class task_status : std::uint8_t { pending, running, succeeded, failed };

/// \brief The status' name, for messages.
[[nodiscard]] constexpr std::string_view to_string(task_status s) noexcept {
  switch (s) {
    case task_status::pending: return "pending";
    case task_status::running: return "running";
    case task_status::succeeded: return "succeeded";
    case task_status::failed: return "failed";
  }
  return "unknown";
}

/// \brief True for the two final states.
[[nodiscard]] constexpr bool is_terminal(task_status s) noexcept {
  return s == task_status::succeeded || s == task_status::failed;
}

/// \brief An illegal status change was asked for; the task is left unchanged.
class transition_error : public usage_error {
 public:
  using usage_error::usage_error;
};

/// \brief What a task asks of the scheduler: priority inputs (SPEC S6), resource needs (S2), TTL and retries (R1).
struct task_spec {
  double business_level = 0.0;      ///< larger is more important (the S6 "business level", e.g. 0 to 3)
  double resource_demand = 0.0;     ///< share of a worker the task uses, in [0, 1]; light tasks get a bonus
  std::uint64_t memory_needed = 0;  ///< bytes of free memory a worker must have to take it (S2 filter)
  seconds ttl{0.0};                 ///< time to live from creation; zero means none
  unsigned max_retries = 3;         ///< how many times `failed -> pending` is allowed
  friend bool operator==(task_spec const&, task_spec const&) = default;
};

/// \brief A unit of work: id, payload, creation time, TTL, priority inputs and the R1 state machine.
///
/// \code
/// strata::schedule::task t{42, bytes, {.business_level = 2, .ttl = strata::schedule::seconds{30}}};
/// t.start();            // pending -> running
/// t.fail("worker lost"); // running -> failed
/// if (t.can_retry()) t.retry();  // failed -> pending, one retry used
/// \endcode
class task {
 public:
  task() = default;
  /// \brief A pending task created at `created`.
  task(task_id id, std::vector<std::byte> payload, task_spec spec = {}, clock::time_point created = clock::now())
      : id_(id), payload_(std::move(payload)), spec_(spec), created_(created) {
    if (spec_.resource_demand < 0.0 || spec_.resource_demand > 1.0)
      throw usage_error("task " + std::to_string(id) + ": resource_demand must be in [0, 1], got " +
                        std::to_string(spec_.resource_demand));
    if (spec_.ttl.count() < 0.0) throw usage_error("task " + std::to_string(id) + ": ttl must not be negative");
  }

  [[nodiscard]] task_id id() const noexcept { return id_; }
  [[nodiscard]] std::span<const std::byte> payload() const noexcept { return payload_; }
  [[nodiscard]] task_spec const& spec() const noexcept { return spec_; }
  [[nodiscard]] double business_level() const noexcept { return spec_.business_level; }
  [[nodiscard]] double resource_demand() const noexcept { return spec_.resource_demand; }
  [[nodiscard]] std::uint64_t memory_needed() const noexcept { return spec_.memory_needed; }
  [[nodiscard]] clock::time_point created() const noexcept { return created_; }
  [[nodiscard]] task_status status() const noexcept { return status_; }
  /// \brief How many times the task was started.
  [[nodiscard]] unsigned attempts() const noexcept { return attempts_; }
  /// \brief Retries still allowed.
  [[nodiscard]] unsigned retries_left() const noexcept { return spec_.max_retries - retries_used_; }
  /// \brief Why the task last failed (empty if it never did).
  [[nodiscard]] std::string const& failure_reason() const noexcept { return reason_; }

  /// \brief True when the task has a TTL and `now` is past it.
  [[nodiscard]] bool expired(clock::time_point now) const noexcept {
    return spec_.ttl.count() > 0.0 && now - created_ >= spec_.ttl;
  }
  /// \brief Seconds since creation.
  [[nodiscard]] double age(clock::time_point now) const noexcept { return seconds(now - created_).count(); }

  /// \brief pending -> running.
  void start() {
    require(status_ == task_status::pending, task_status::running);
    status_ = task_status::running;
    ++attempts_;
  }
  /// \brief running -> succeeded.
  void succeed() {
    require(status_ == task_status::running, task_status::succeeded);
    status_ = task_status::succeeded;
  }
  /// \brief running -> failed, remembering why.
  void fail(std::string reason) {
    require(status_ == task_status::running, task_status::failed);
    status_ = task_status::failed;
    reason_ = std::move(reason);
  }
  /// \brief pending | running -> failed because the TTL ran out (SPEC R1: expired tasks fail, never vanish).
  void expire(clock::time_point now) {
    require(status_ == task_status::pending || status_ == task_status::running, task_status::failed);
    status_ = task_status::failed;
    reason_ = "expired after " + std::to_string(age(now)) + " s (ttl " + std::to_string(spec_.ttl.count()) + " s)";
  }
  /// \brief True when `retry()` would be allowed.
  [[nodiscard]] bool can_retry() const noexcept {
    return status_ == task_status::failed && retries_used_ < spec_.max_retries && reason_.rfind("expired", 0) != 0;
  }
  /// \brief failed -> pending, using one retry; refused when the budget is spent or the task expired.
  void retry() {
    if (status_ != task_status::failed) require(false, task_status::pending);
    if (reason_.rfind("expired", 0) == 0)
      throw transition_error("task " + std::to_string(id_) + ": failed -> pending refused: the task expired");
    if (retries_used_ >= spec_.max_retries)
      throw transition_error("task " + std::to_string(id_) + ": failed -> pending refused: retry budget of " +
                             std::to_string(spec_.max_retries) + " spent (last failure: " + reason_ + ")");
    status_ = task_status::pending;
    ++retries_used_;
  }

  /// \brief Rebuilds a task in a given state (restore from a checkpoint); bypasses the state machine on purpose.
  [[nodiscard]] static task restored(task_id id, std::vector<std::byte> payload, task_spec spec,
                                     clock::time_point created, task_status status, unsigned attempts,
                                     unsigned retries_used, std::string reason) {
    task t{id, std::move(payload), spec, created};
    t.status_ = status;
    t.attempts_ = attempts;
    t.retries_used_ = retries_used;
    t.reason_ = std::move(reason);
    return t;
  }
  /// \brief Retries used so far.
  [[nodiscard]] unsigned retries_used() const noexcept { return retries_used_; }
  /// \brief Drops the payload (kept only while the task can still run).
  void release_payload() noexcept { std::vector<std::byte>{}.swap(payload_); }

 private:
  void require(bool ok, task_status to) const {
    if (ok) return;
    throw transition_error("task " + std::to_string(id_) + ": illegal transition " + std::string(to_string(status_)) +
                           " -> " + std::string(to_string(to)) +
                           " (allowed: pending -> running -> succeeded | failed, failed -> pending within the retry "
                           "budget, pending | running -> failed on expiry)");
  }

  task_id id_ = 0;
  std::vector<std::byte> payload_;
  task_spec spec_;
  clock::time_point created_{};
  task_status status_ = task_status::pending;
  unsigned attempts_ = 0;
  unsigned retries_used_ = 0;
  std::string reason_;
};

/// \brief What the dispatcher needs from a task type; `schedule::task` is the model.
template <class T>
concept task_like = std::movable<T> && requires(T& t, T const& c, clock::time_point now, std::string reason) {
  { c.id() } -> std::convertible_to<task_id>;
  { c.payload() } -> std::convertible_to<std::span<const std::byte>>;
  { c.business_level() } -> std::convertible_to<double>;
  { c.resource_demand() } -> std::convertible_to<double>;
  { c.memory_needed() } -> std::convertible_to<std::uint64_t>;
  { c.created() } -> std::convertible_to<clock::time_point>;
  { c.status() } -> std::same_as<task_status>;
  { c.expired(now) } -> std::same_as<bool>;
  { c.can_retry() } -> std::same_as<bool>;
  { c.spec() } -> std::convertible_to<task_spec>;
  { c.attempts() } -> std::convertible_to<unsigned>;
  { c.retries_used() } -> std::convertible_to<unsigned>;
  { c.failure_reason() } -> std::convertible_to<std::string>;
  { T::restored(task_id{}, std::vector<std::byte>{}, task_spec{}, now, task_status::pending, 0u, 0u, reason) }
      -> std::same_as<T>;
  t.start();
  t.succeed();
  t.fail(reason);
  t.expire(now);
  t.retry();
};

static_assert(task_like<task>);

}  // namespace strata::schedule
