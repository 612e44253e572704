// The dispatcher's router alone, without a communicator: every transition keeps the counts by status and
// the workers' in-flight counts consistent; retries end in one final failure; the result-size limit
// fails an attempt; answers that must not apply are dropped.
#include <catch2/catch.hpp>
#include <strata/schedule/detail/router.hpp>

#include <map>
#include <string>
#include <vector>

using namespace strata::schedule;
using detail::answer;
using detail::outcome;

namespace {

template <class Selection = round_robin>
struct harness {
  using test_router = detail::router<task, fcfs, Selection>;
  std::vector<std::string> logs;
  std::vector<std::pair<task_id, std::size_t>> sent;  // (task, worker) per assignment
  std::map<task_id, std::pair<outcome, std::string>> finals;
  std::map<std::size_t, std::uint64_t> seq;           // per worker: the answers' sequence numbers
  test_router r;

  explicit harness(std::size_t workers, detail::router_options o = {})
      : r(workers, with_log(std::move(o)), fcfs{}, Selection()) {
    r.on_final([this](typename test_router::record& rec, outcome o, std::span<const std::byte> data) {
      REQUIRE_FALSE(finals.contains(rec.task.id()));  // once per task
      finals[rec.task.id()] = {o, std::string(reinterpret_cast<char const*>(data.data()), data.size())};
    });
  }
  detail::router_options with_log(detail::router_options o) {
    o.backoff = {.base = seconds{0.0}, .cap = seconds{0.0}};
    o.log = [this](std::string_view m) { logs.emplace_back(m); };
    return o;
  }
  bool dispatch() {
    return r.dispatch(clock::now(), [&](typename test_router::record const& rec, std::size_t w) {
      sent.emplace_back(rec.task.id(), w);
    });
  }
  answer reply(std::size_t w, task_id id, bool ok, std::vector<std::byte> result = {}, std::string error = "boom") {
    auto const* t = r.find(id);
    detail::result_msg m{++seq[w], id, t ? static_cast<std::uint32_t>(t->attempts()) : 1u, ok, 0.001,
                         ok ? std::string{} : error, std::move(result)};
    return r.on_result(w, std::move(m), clock::now());
  }
  void release() { r.release_retries(clock::now() + std::chrono::seconds(1)); }
  bool logged(std::string const& part) const {
    for (auto const& l : logs)
      if (l.find(part) != std::string::npos) return true;
    return false;
  }
};

/// The counts the router reports agree with its tasks and workers, whatever happened.
template <class Router>
void check_consistent(Router const& r, std::uint32_t max_in_flight) {
  std::map<task_status, std::uint64_t> by_status;
  std::map<int, std::uint32_t> on_worker;
  for (auto const& [id, rec] : r.tasks()) {
    ++by_status[rec.task.status()];
    if (rec.task.status() == task_status::running && rec.worker >= 0) ++on_worker[rec.worker];
    if (rec.task.status() != task_status::running) CHECK(rec.worker == -1);
  }
  auto const c = r.counts();
  CHECK(c.pending == by_status[task_status::pending]);
  CHECK(c.running == by_status[task_status::running]);
  CHECK(c.succeeded == by_status[task_status::succeeded]);
  CHECK(c.failed == by_status[task_status::failed]);
  CHECK(r.open() == c.pending + c.running);
  CHECK(r.final_count() == c.succeeded + c.failed);
  std::size_t available = 0;
  for (std::size_t w = 0; w < r.workers().size(); ++w) {
    auto const& s = r.workers()[w];
    CHECK(s.in_flight == on_worker[static_cast<int>(w)]);
    if (!s.alive || s.in_flight >= max_in_flight) CHECK_FALSE(s.available);
    available += s.available ? 1 : 0;
  }
  CHECK(r.available() == available);
}

std::vector<std::byte> bytes(std::size_t n) { return std::vector<std::byte>(n, std::byte{7}); }

}  // namespace

TEST_CASE("router: assign, answer and take-back keep every count consistent", "[schedule][router]") {
  harness<> h{2, {.max_in_flight = 1}};
  for (task_id i = 1; i <= 3; ++i) CHECK(h.r.submit(task{i, {}}, clock::now()));
  CHECK_FALSE(h.r.submit(task{2, {}}, clock::now()));  // known id
  check_consistent(h.r, 1);
  CHECK(h.r.counts().pending == 3);

  CHECK(h.dispatch());
  REQUIRE(h.sent.size() == 2);  // one per worker: the in-flight cap is 1
  CHECK(h.r.counts().running == 2);
  CHECK(h.r.counts().pending == 1);
  CHECK(h.r.available() == 0);
  check_consistent(h.r, 1);

  auto const [first, w0] = h.sent[0];
  CHECK(h.reply(w0, first, true, bytes(3)) == answer::applied);
  CHECK(h.r.counts().succeeded == 1);
  CHECK(h.r.counts().running == 1);
  CHECK(h.r.workers()[w0].in_flight == 0);
  CHECK(h.r.workers()[w0].responses == 1);
  REQUIRE(h.finals.contains(first));
  CHECK(h.finals[first].first == outcome::succeeded);
  CHECK(h.finals[first].second.size() == 3);
  check_consistent(h.r, 1);

  // the other worker dies: its task is taken back and retried, nothing is lost or counted twice
  auto const [second, w1] = h.sent[1];
  CHECK(h.r.declare_dead(w1, clock::now()) == 1);
  CHECK_FALSE(h.r.workers()[w1].alive);
  CHECK(h.r.workers()[w1].in_flight == 0);
  CHECK(h.r.find(second)->status() == task_status::pending);
  CHECK(h.r.summary().retries == 1);
  CHECK(h.r.counts().running == 0);
  CHECK(h.r.counts().pending == 2);
  CHECK(h.r.counts().workers_alive == 1);
  check_consistent(h.r, 1);
  // its late answer is stale and changes nothing
  CHECK(h.reply(w1, second, true) == answer::stale);
  CHECK(h.r.summary().stale_dropped == 1);
  CHECK(h.logged("from rank 2, which was declared dead; the task was taken back and reassigned (now pending)"));
  check_consistent(h.r, 1);

  // the rest runs on the live worker
  h.release();
  while (h.r.open() > 0) {
    h.sent.clear();
    REQUIRE(h.dispatch());
    REQUIRE(h.sent.size() == 1);
    CHECK(h.sent[0].second == w0);
    CHECK(h.reply(w0, h.sent[0].first, true) == answer::applied);
    check_consistent(h.r, 1);
  }
  CHECK(h.r.counts().succeeded == 3);
  CHECK(h.r.summary().completed_this_run == 3);
  CHECK(h.finals.size() == 3);
  // a repeated answer and an answer for a task never submitted are dropped
  CHECK(h.r.on_result(w0, detail::result_msg{h.seq[w0], first, 1, true, 0.0, {}, {}}, clock::now()) ==
        answer::duplicate);
  CHECK(h.reply(w0, 99, true) == answer::unknown);
  CHECK(h.reply(w0, first, true) == answer::duplicate);  // new sequence number, task already final
  CHECK(h.r.summary().duplicates_dropped == 2);
  CHECK(h.r.summary().unknown_dropped == 1);
  check_consistent(h.r, 1);
}

TEST_CASE("router: a task fails for good once, after its retry budget", "[schedule][router]") {
  harness<> h{1};
  h.r.submit(task{7, {}, {.max_retries = 2}}, clock::now());
  for (unsigned attempt = 1; attempt <= 3; ++attempt) {
    h.release();
    h.sent.clear();
    REQUIRE(h.dispatch());
    REQUIRE(h.sent.size() == 1);
    CHECK(h.r.find(7)->attempts() == attempt);
    CHECK(h.reply(0, 7, false, {}, "flaky " + std::to_string(attempt)) == answer::applied);
    check_consistent(h.r, 2);
    if (attempt < 3) {
      CHECK(h.r.find(7)->status() == task_status::pending);
      CHECK(h.finals.empty());
    }
  }
  CHECK(h.r.find(7)->status() == task_status::failed);
  CHECK(h.r.summary().retries == 2);
  CHECK(h.r.counts().failed == 1);
  CHECK(h.r.open() == 0);
  REQUIRE(h.finals.size() == 1);
  CHECK(h.finals[7] == std::pair{outcome::failed, std::string("flaky 3")});
  CHECK(h.logged("task 7 failed for good after 3 attempt(s): flaky 3"));
  // nothing is left to run
  h.release();
  CHECK_FALSE(h.dispatch());
}

TEST_CASE("router: a result over the size limit fails the attempt", "[schedule][router]") {
  harness<> h{1, {.max_result_bytes = 8}};
  h.r.submit(task{1, {}, {.max_retries = 0}}, clock::now());
  h.r.submit(task{2, {}}, clock::now());
  REQUIRE(h.dispatch());
  REQUIRE(h.sent.size() == 2);
  CHECK(h.reply(0, 1, true, bytes(9)) == answer::applied);
  CHECK(h.reply(0, 2, true, bytes(8)) == answer::applied);
  REQUIRE(h.finals.size() == 2);
  CHECK(h.finals[1] == std::pair{outcome::failed, std::string("result of 9 bytes exceeds max_result_bytes 8")});
  CHECK(h.finals[2].first == outcome::succeeded);
  CHECK(h.finals[2].second.size() == 8);
  CHECK(h.logged("task 1 from rank 1: result of 9 bytes exceeds max_result_bytes 8"));
  check_consistent(h.r, 2);

  detail::result_msg m{1, 3, 1, true, 0.0, {}, bytes(9)};
  CHECK(detail::enforce_result_limit(m, 8));
  CHECK_FALSE(m.ok);
  CHECK(m.result.empty());
  detail::result_msg fits{1, 3, 1, true, 0.0, {}, bytes(8)};
  CHECK_FALSE(detail::enforce_result_limit(fits, 8));
  CHECK(fits.ok);
}

TEST_CASE("router: expiry and an impossible memory need fail for good", "[schedule][router]") {
  harness<filter_score> h{1};
  h.r.heartbeat(0, {.seq = 1, .queue_length = 0, .free_memory = 100, .total_memory = 100});
  h.r.submit(task{1, {}, {.ttl = seconds{0.001}}, clock::now() - std::chrono::seconds(1)}, clock::now());
  h.r.submit(task{2, {}, {.memory_needed = 1000}}, clock::now());
  h.r.submit(task{3, {}, {.ttl = seconds{0.05}}}, clock::now());
  CHECK(h.dispatch());
  CHECK(h.finals.at(1).first == outcome::failed);
  CHECK(h.finals.at(1).second.rfind("expired", 0) == 0);
  CHECK(h.finals.at(2).second == "needs 1000 bytes of free memory, more than any worker has (100)");
  CHECK(h.logged("task 2 needs 1000 bytes of free memory, more than any worker has (100); failed for good"));
  REQUIRE(h.sent.size() == 1);
  CHECK(h.r.counts().running == 1);
  check_consistent(h.r, 2);
  // a running task past its TTL fails too, and frees its worker
  h.r.expire_sweep(clock::now() + std::chrono::seconds(1));
  CHECK(h.finals.at(3).first == outcome::failed);
  CHECK(h.r.workers()[0].in_flight == 0);
  CHECK(h.r.counts().failed == 3);
  check_consistent(h.r, 2);
  CHECK(h.reply(0, 3, true) == answer::duplicate);  // the late answer finds it final
}

TEST_CASE("router: a stuck worker gets nothing new; a replayed outcome leaves the queue", "[schedule][router]") {
  harness<> h{2, {.max_in_flight = 4}};
  for (task_id i = 1; i <= 4; ++i) h.r.submit(task{i, {}}, clock::now());
  h.r.set_stuck(1, true);
  CHECK(h.dispatch());
  for (auto const& [id, w] : h.sent) CHECK(w == 0);
  check_consistent(h.r, 4);
  auto const late = h.r.late_attempts(clock::now() + std::chrono::seconds(5), std::chrono::seconds(1),
                                      [](std::size_t) { return false; });
  REQUIRE(late.size() == 1);
  CHECK(late[0].first == 0);
  CHECK(h.r.take_back(0, "timed out", clock::now()) == h.sent.size());
  check_consistent(h.r, 4);

  harness<> g{1};
  g.r.restore(task::restored(5, {}, {}, clock::now(), task_status::pending, 1, 0, ""), 10, clock::now());
  g.r.restore(task::restored(6, {}, {}, clock::now(), task_status::succeeded, 1, 0, ""), 11, clock::now());
  CHECK(g.r.summary().restored == 2);
  CHECK(g.r.replay(5, outcome::succeeded, 1, {}));
  CHECK_FALSE(g.r.replay(6, outcome::succeeded, 1, {}));  // already final
  CHECK(g.r.replay(8, outcome::failed, 2, "gone"));       // unknown before: recorded final
  CHECK(g.r.counts().succeeded == 2);
  CHECK(g.r.counts().failed == 1);
  CHECK(g.r.open() == 0);
  CHECK(g.r.next_seq() == 13);
  CHECK_FALSE(g.dispatch());  // task 5 was taken out of the ready queue
  check_consistent(g.r, 2);
}
