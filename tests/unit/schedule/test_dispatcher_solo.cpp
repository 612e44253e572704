// The dispatcher on a one-rank communicator runs tasks itself: the same queue, retry, TTL,
// write-ahead log and checkpoint paths as over MPI, in one process.
#include <catch2/catch.hpp>
#include <strata/comm/solo.hpp>
#include <strata/schedule/dispatcher.hpp>

#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>

using namespace strata::schedule;
namespace fs = std::filesystem;

namespace {
fs::path fresh_dir(std::string const& name) {
  auto d = fs::temp_directory_path() / ("strata_sched_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}
std::vector<std::byte> bytes_of(std::string const& s) {
  auto b = std::as_bytes(std::span(s.data(), s.size()));
  return {b.begin(), b.end()};
}
}  // namespace

TEST_CASE("solo dispatcher runs tasks in priority order and reports each once", "[schedule][dispatcher]") {
  std::vector<std::string> logs;
  dispatcher<task, static_priority, round_robin, strata::comm::solo> d{
      strata::comm::solo{}, {.log = [&](std::string_view m) { logs.emplace_back(m); }}};
  std::vector<task_id> order;
  d.on_complete([&](task_id id, std::span<const std::byte> r) {
    order.push_back(id);
    CHECK(std::string(reinterpret_cast<char const*>(r.data()), r.size()) == "done " + std::to_string(id));
  });
  for (task_id i = 0; i < 6; ++i) CHECK(d.submit(task{i, bytes_of("x"), {.business_level = double(i % 3)}}));
  CHECK_FALSE(d.submit(task{3, {}}));  // duplicate id: skipped
  auto const s = d.run([](task_context const& c) { return bytes_of("done " + std::to_string(c.id)); });
  CHECK(s.succeeded == 6);
  CHECK(order == std::vector<task_id>{2, 5, 1, 4, 0, 3});
}

TEST_CASE("solo dispatcher retries failures with backoff, then fails for good", "[schedule][dispatcher]") {
  std::vector<std::string> logs;
  dispatcher<task, fcfs, round_robin, strata::comm::solo> d{
      strata::comm::solo{},
      {.backoff = {.base = seconds{0.001}, .cap = seconds{0.004}}, .log = [&](std::string_view m) { logs.emplace_back(m); }}};
  std::map<task_id, int> runs;
  std::vector<task_id> ok, bad;
  d.on_complete([&](task_id id, auto) { ok.push_back(id); });
  d.on_failure([&](task_id id, std::string_view why) {
    bad.push_back(id);
    CHECK(why == "always fails");
  });
  d.submit(task{1, {}, {.max_retries = 2}});  // fails twice then succeeds
  d.submit(task{2, {}, {.max_retries = 2}});  // always fails
  auto const s = d.run([&](task_context const& c) -> std::vector<std::byte> {
    ++runs[c.id];
    if (c.id == 2) throw std::runtime_error("always fails");
    if (c.attempt < 3) throw std::runtime_error("flaky");
    return {};
  });
  CHECK(runs[1] == 3);
  CHECK(runs[2] == 3);
  CHECK(ok == std::vector<task_id>{1});
  CHECK(bad == std::vector<task_id>{2});
  CHECK(s.retries == 4);
  CHECK(s.failed == 1);
  bool logged = false;
  for (auto const& l : logs) logged |= l.find("task 2 failed for good after 3 attempt(s): always fails") != std::string::npos;
  CHECK(logged);
}

TEST_CASE("solo dispatcher fails expired tasks instead of running them", "[schedule][dispatcher]") {
  dispatcher<task, fcfs, round_robin, strata::comm::solo> d{strata::comm::solo{}, {.log = [](std::string_view) {}}};
  std::vector<task_id> failed;
  d.on_failure([&](task_id id, std::string_view why) {
    failed.push_back(id);
    CHECK(why.substr(0, 7) == "expired");
  });
  d.submit(task{1, {}, {.ttl = seconds{0.001}}, clock::now() - std::chrono::seconds(1)});
  d.submit(task{2, {}});
  int ran = 0;
  auto const s = d.run([&](task_context const&) { ++ran; return std::vector<std::byte>{}; });
  CHECK(ran == 1);
  CHECK(failed == std::vector<task_id>{1});
  CHECK(s.succeeded == 1);
  CHECK(s.failed == 1);
}

TEST_CASE("oversize payloads are refused at submit with a log line", "[schedule][dispatcher]") {
  std::vector<std::string> logs;
  dispatcher<task, fcfs, round_robin, strata::comm::solo> d{
      strata::comm::solo{}, {.max_payload_bytes = 16, .log = [&](std::string_view m) { logs.emplace_back(m); }}};
  CHECK_FALSE(d.submit(task{1, std::vector<std::byte>(17)}));
  CHECK(d.submit(task{2, std::vector<std::byte>(16)}));
  REQUIRE(logs.size() == 1);
  CHECK_THAT(logs[0], Catch::Contains("task 1: payload of 17 bytes exceeds max_payload_bytes 16; task refused"));
  CHECK(d.find(1) == nullptr);
}

TEST_CASE("solo dispatcher resumes from checkpoint + write-ahead log without losing or repeating", "[schedule][dispatcher]") {
  auto const dir = fresh_dir("resume");
  std::map<task_id, int> applied;  // the application's state: idempotent by id
  auto sink = [&](task_id id, std::span<const std::byte>) { ++applied[id]; };
  auto work = [](task_context const& c) { return bytes_of(std::to_string(c.id * 2)); };
  int const n = 50;
  {
    dispatcher<task, fcfs, round_robin, strata::comm::solo> d{
        strata::comm::solo{}, {.directory = dir, .checkpoint_every = 8, .log = [](std::string_view) {}}};
    // the 21st outcome is logged, then the process "dies" before the application applies it
    d.on_complete([&](task_id id, std::span<const std::byte> r) {
      if (applied.size() == 20) throw std::logic_error("simulated crash");
      sink(id, r);
    });
    d.recover();
    for (int i = 0; i < n; ++i) d.submit(task{task_id(i), bytes_of("p")});
    CHECK_THROWS_AS(d.run(work), std::logic_error);
  }
  CHECK(applied.size() == 20);
  // a second "process": outcomes come back from the checkpoint + log, the rest runs once
  std::map<task_id, int> replayed;
  {
    dispatcher<task, fcfs, round_robin, strata::comm::solo> d{
        strata::comm::solo{}, {.directory = dir, .checkpoint_every = 8, .log = [](std::string_view) {}}};
    d.on_complete([&](task_id id, std::span<const std::byte> r) {
      ++replayed[id];
      if (applied[id] == 0) ++applied[id];  // apply only what is not applied yet
      CHECK(std::string(reinterpret_cast<char const*>(r.data()), r.size()) == std::to_string(id * 2));
    });
    CHECK(d.recover() == 21);
    CHECK(d.term() == 2);
    for (int i = 0; i < n; ++i) d.submit(task{task_id(i), bytes_of("p")});
    auto const s = d.run(work);
    CHECK(s.succeeded == std::size_t(n));
    CHECK(s.completed_this_run == std::size_t(n - 21));
  }
  CHECK(applied.size() == std::size_t(n));
  for (auto const& [id, k] : applied) CHECK(k == 1);
  // only outcomes after the last checkpoint (every 8 outcomes) were replayed: ids 16..20
  std::size_t replayed_before = 0;
  for (auto const& [id, k] : replayed) replayed_before += id <= 20 ? k : 0;
  CHECK(replayed_before == 5);
  CHECK(replayed.count(15) == 0);
  fs::remove_all(dir);
}

TEST_CASE("a misused policy is reported with a sentence", "[schedule][dispatcher]") {
  struct not_a_policy {};
  STATIC_REQUIRE_FALSE(priority_policy<not_a_policy>);
  STATIC_REQUIRE_FALSE(selection_policy<not_a_policy>);
  // dispatcher<task, not_a_policy> fails to compile with:
  // "strata::schedule: the Priority policy must be a regular value type with `double score(...)`..."
}
