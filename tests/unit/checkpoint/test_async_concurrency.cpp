// The asynchronous writer while the application keeps running: the state is rewritten at every
// step while the background thread encodes, writes and commits earlier versions, and the observers
// (last_stats, current_version, versions) are polled meanwhile. Meant to run under ThreadSanitizer
// too (`cmake --preset tsan`, `TSAN_OPTIONS=halt_on_error=1 build/tsan/tests/unit_checkpoint "[async-race]"`).
#include <catch2/catch.hpp>
#include <strata/checkpoint/async_writer.hpp>
#include <strata/checkpoint/checkpointer.hpp>
#include <strata/comm/solo.hpp>
#include <strata/snapshot/compressed.hpp>
#include <strata/snapshot/incremental.hpp>
#include <support/files.hpp>

#include <atomic>
#include <thread>

using namespace strata;

namespace {
std::ostream* race_log() { return std::getenv("STRATA_TEST_LOG") ? &std::cerr : nullptr; }

/// Every element of the field is a function of the step, so a version that mixes two steps shows.
double value_at(std::uint64_t step, std::size_t i) { return static_cast<double>(step) * 1000.0 + static_cast<double>(i % 7); }

struct racing_state {
  std::vector<double> u = std::vector<double>(32 * 1024, 0.0);  // 256 KiB
  std::uint64_t tag = 0;
  void set(std::uint64_t step) {
    tag = step;
    for (std::size_t i = 0; i < u.size(); ++i) u[i] = value_at(step, i);
  }
  [[nodiscard]] bool consistent() const {
    for (std::size_t i = 0; i < u.size(); ++i)
      if (u[i] != value_at(tag, i)) return false;
    return true;
  }
};
}  // namespace

TEMPLATE_TEST_CASE("async under load: state rewritten while the writer runs; every committed version is one step",
                   "[async][async-race]", snapshot::full, snapshot::incremental<4096>,
                   snapshot::compressed<snapshot::incremental<4096>>) {
  using ck_t = checkpointer<comm::solo, TestType>;
  test::scratch_dir dir{comm::solo{}, "async-race"};
  racing_state s;
  std::uint64_t const steps = 40;
  typename ck_t::options o;
  o.directory = dir.path();
  o.async = true;
  o.trigger = {.n = 1};  // every step: the writer is always behind, versions get superseded
  o.retention = {.count = 1000};
  o.log = race_log();
  std::vector<std::uint64_t> committed;
  {
    ck_t ck{comm::solo{}, o};
    ck.protect("u", s.u);
    ck.protect("tag", s.tag);
    std::uint64_t seen_stats = 0;
    for (std::uint64_t i = 1; i <= steps; ++i) {
      s.set(i);  // overwrites every byte staged by the previous step's checkpoint
      ck.step(i);
      // Observers, concurrently with the background commit.
      seen_stats += ck.last_stats().version;
      // One version per step at most, plus the forced one at steps / 2.
      if (auto v = ck.current_version()) CHECK(*v <= i + (i >= steps / 2 ? 1 : 0));
      if (i % 8 == 0) CHECK(ck.versions().size() <= i);
      if (i == steps / 2) ck.checkpoint();  // a forced one in the middle of periodic ones
    }
    ck.wait();
    committed = ck.versions();
    CHECK(seen_stats > 0);
    CHECK(ck.last_stats().superseded + committed.size() >= steps);  // none silently lost
  }
  REQUIRE(!committed.empty());
  CHECK(committed.back() >= steps);  // the newest state is always written
  for (auto v : committed) {
    racing_state r;
    ck_t ck{comm::solo{}, {.directory = dir.path(), .log = race_log()}};
    ck.protect("u", r.u);
    ck.protect("tag", r.tag);
    REQUIRE(ck.restore(v) == v);
    INFO("version " << v << " holds step " << r.tag);
    CHECK(r.tag >= 1);
    CHECK(r.consistent());
  }
}

TEST_CASE("async_writer: a producer racing the worker; replaced jobs never run, the rest run once, in order",
          "[async][async-race]") {
  struct job {
    std::uint64_t id = 0;
    std::vector<std::uint64_t> payload;
  };
  std::vector<std::uint64_t> ran;  // written by the worker only; read after drain()
  std::atomic<bool> torn{false};
  checkpoint::async_writer<job> w{[&](job& j) {
    for (auto x : j.payload)
      if (x != j.id) torn = true;
    ran.push_back(j.id);
  }};
  std::uint64_t const jobs = 2000;
  std::uint64_t replaced = 0;
  std::atomic<std::uint64_t> polls{0};
  std::atomic<bool> done{false};
  std::thread observer{[&] {  // a second application thread reading the counters meanwhile
    while (!done) polls += w.completed() + w.superseded() + (w.failure() ? 1 : 0);
  }};
  for (std::uint64_t i = 1; i <= jobs; ++i) {
    auto buf = w.take_buffer();  // recycled staging buffers (not used for payload here)
    w.give_buffer(std::move(buf));
    auto l = w.hold();
    auto const u = (i % 100 == 0) ? checkpoint::urgency::forced : checkpoint::urgency::periodic;
    if (auto waiting = w.waiting(l)) {
      if (*waiting == checkpoint::urgency::periodic) {
        REQUIRE(w.take_waiting(l));
        ++replaced;
      } else {
        w.wait_for_slot(l);
      }
    }
    w.push(l, job{i, std::vector<std::uint64_t>(64, i)}, u);
  }
  w.drain();
  done = true;
  observer.join();
  CHECK_FALSE(torn);
  CHECK(w.superseded() == replaced);
  CHECK(w.completed() == ran.size());
  CHECK(ran.size() + replaced == jobs);
  REQUIRE(!ran.empty());
  CHECK(ran.back() == jobs);
  CHECK(std::is_sorted(ran.begin(), ran.end()));
  for (std::uint64_t i = 100; i <= jobs; i += 100) CHECK(std::binary_search(ran.begin(), ran.end(), i));  // forced: never replaced
}

TEST_CASE("async_writer: prepare() makes a staging buffer on the writer's thread; take_buffer() hands it out",
          "[async]") {
  struct job {
    int id = 0;
  };
  std::vector<int> ran;
  checkpoint::async_writer<job> w{[&](job& j) { ran.push_back(j.id); }};
  std::thread::id maker;
  w.prepare([&] {
    maker = std::this_thread::get_id();
    return std::vector<std::byte>(4096, std::byte{7});
  });
  auto b = w.take_buffer();  // waits for a buffer being made
  w.drain();
  if (b.empty()) b = w.take_buffer();  // made after the first take (it found nothing being made yet)
  REQUIRE(b.size() == 4096);
  CHECK(b[4095] == std::byte{7});
  CHECK(maker != std::this_thread::get_id());
  CHECK(w.take_buffer().empty());  // one buffer made, one handed out

  SECTION("a failure to make one is ignored: the jobs run, take_buffer() gives an empty buffer") {
    w.prepare([]() -> std::vector<std::byte> { throw std::bad_alloc{}; });
    w.drain();
    {
      auto l = w.hold();
      w.push(l, job{1}, checkpoint::urgency::periodic);
    }
    w.drain();
    CHECK(ran == std::vector<int>{1});
    CHECK_FALSE(w.failure());
    CHECK(w.take_buffer().empty());
  }
}
