// storage::multilevel: the copy to the slow level runs in the background and is committed there only
// once durable; a failed copy leaves the slow level as it was; the slow level keeps its newest
// versions whatever retention retires from the fast one (issue 9, item 2: L4 in the background).
#include <catch2/catch.hpp>
#include <strata/checkpoint/checkpointer.hpp>
#include <strata/comm/solo.hpp>
#include <strata/storage/multilevel.hpp>
#include <support/files.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <thread>

using namespace strata;
namespace fs = std::filesystem;

namespace {

/// A shared directory whose writes wait at a gate the test opens, and can refuse a version.
struct gate {
  std::mutex m;
  std::condition_variable cv;
  bool open = true;
  std::atomic<int> started{0};
  std::atomic<std::uint64_t> fail_version{0};
  void set(bool o) {
    {
      std::lock_guard g{m};
      open = o;
    }
    cv.notify_all();
  }
};

struct gated_dir : storage::posix_dir {
  static constexpr std::string_view name = "posix_dir";
  std::shared_ptr<gate> g = std::make_shared<gate>();
  void write_shard(std::uint64_t v, snapshot::encoded_shard const& s) {
    ++g->started;
    {
      std::unique_lock l{g->m};
      // Bounded, so that a flush that is not in the background makes the test fail instead of hang.
      g->cv.wait_for(l, std::chrono::seconds(20), [&] { return g->open; });
    }
    if (v == g->fail_version.load()) throw checkpoint_error("test: the shared file system refuses version " + std::to_string(v));
    posix_dir::write_shard(v, s);
  }
  friend bool operator==(gated_dir const&, gated_dir const&) noexcept { return true; }
};

using store = storage::multilevel<storage::posix_dir, gated_dir, 2>;
static_assert(store::can_flush_in_background);
using ckpt_t = checkpointer<comm::solo, snapshot::full, store>;

fs::path record(fs::path const& dir, std::uint64_t v) {
  char name[32];
  std::snprintf(name, sizeof name, "v%08llu.manifest.json", static_cast<unsigned long long>(v));
  return dir / name;
}

/// Ten versions kept, the log at info level into `log`.
ckpt_t::options logged_options(fs::path const& dir, std::ostringstream& log) {
  ckpt_t::options o;
  o.directory = dir;
  o.retention = {.count = 10};
  o.log = &log;
  o.log_level = verbosity::info;
  return o;
}

bool wait_until(auto&& pred) {
  for (int i = 0; i < 2000 && !pred(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return pred();
}

}  // namespace

TEST_CASE("multilevel: the flush to the slow level runs in the background, committed there once durable",
          "[storage][multilevel]") {
  test::scratch_dir dir{comm::solo{}, "ml_bg"};
  std::ostringstream log;
  auto o = logged_options(dir.path(), log);
  std::vector<double> u(4096, 1.0);
  auto g = o.storage.slow.g;
  {
    ckpt_t c{comm::solo{}, o};
    c.protect("u", u);
    REQUIRE(c.checkpoint() == 1);  // not flushed (K = 2)
    CHECK(g->started == 0);
    g->set(false);
    u[7] = 2.0;
    REQUIRE(c.checkpoint() == 2);  // flushed: returns while the slow level's write waits at the gate
    CHECK(wait_until([&] { return g->started == 1; }));
    CHECK(fs::exists(record(dir.path() / "fast", 2)));
    CHECK_FALSE(fs::exists(record(dir.path(), 2)));  // not durable there yet: not committed there
    u[7] = 3.0;
    REQUIRE(c.checkpoint() == 3);  // the flush is still running: left for later, not waited for
    CHECK_FALSE(fs::exists(record(dir.path(), 2)));
    g->set(true);
    c.wait();  // waits for the copy and commits it on the slow level
    CHECK(fs::exists(record(dir.path(), 2)));
    CHECK_THAT(log.str(), Catch::Contains("version 2 flushed to the slow level in the background"));
    u[7] = 4.0;
    REQUIRE(c.checkpoint() == 4);
  }  // the destructor settles the flush of version 4
  CHECK(fs::exists(record(dir.path(), 4)));
  CHECK_FALSE(fs::exists(record(dir.path(), 3)));

  // The fast level is lost: the slow level alone restores its newest version, exactly.
  fs::remove_all(dir.path() / "fast");
  std::vector<double> back(4096, 0.0);
  ckpt_t c{comm::solo{}, o};
  c.protect("u", back);
  CHECK(c.restore_latest() == std::optional<std::uint64_t>(4));
  CHECK(back == u);
}

TEST_CASE("multilevel: a failed background flush leaves the slow level as it was", "[storage][multilevel]") {
  test::scratch_dir dir{comm::solo{}, "ml_fail"};
  std::ostringstream log;
  auto o = logged_options(dir.path(), log);
  o.storage.slow.g->fail_version = 4;
  std::uint64_t x = 0;
  ckpt_t c{comm::solo{}, o};
  c.protect("x", x);
  for (std::uint64_t v = 1; v <= 5; ++v) {
    x = v;
    REQUIRE(c.checkpoint() == v);  // version 4's flush fails in the background: not an error of checkpoint()
  }
  c.wait();
  CHECK_THAT(log.str(), Catch::Contains("the background flush of version 4 to the slow level failed") &&
                            Catch::Contains("the shared file system refuses version 4") &&
                            Catch::Contains("stays on the fast level only"));
  CHECK(fs::exists(record(dir.path(), 2)));
  CHECK_FALSE(fs::exists(record(dir.path(), 4)));
  CHECK_FALSE(fs::exists(dir.path() / "v00000004"));  // nothing partial left behind
  CHECK(fs::exists(record(dir.path() / "fast", 4)));  // the version itself is committed
  x = 6;
  REQUIRE(c.checkpoint() == 6);
  c.wait();
  CHECK(fs::exists(record(dir.path(), 6)));  // the next flush works
}

TEST_CASE("multilevel: the slow level keeps its newest versions whatever retention retires from the fast one",
          "[storage][multilevel]") {
  test::scratch_dir dir{comm::solo{}, "ml_keep"};
  ckpt_t::options o;
  o.directory = dir.path();
  o.retention = {.count = 1};
  o.storage.keep_flushed = 2;
  o.log = nullptr;
  std::uint64_t x = 0;
  ckpt_t c{comm::solo{}, o};
  c.protect("x", x);
  auto g = o.storage.slow.g;
  for (std::uint64_t v = 1; v <= 7; ++v) {
    if (v == 6) g->set(false);  // version 6's copy is still under way when version 7 commits
    x = v;
    REQUIRE(c.checkpoint() == v);
  }
  storage::posix_dir fast, slow;
  fast.attach(comm::solo{}, dir.path() / "fast");
  slow.attach(comm::solo{}, dir.path());
  CHECK(slow.list().committed == std::vector<std::uint64_t>{2, 4});  // 6 not durable there yet: 2 kept
  g->set(true);
  c.wait();  // version 6 committed on the slow level: version 2, retired from the fast one, goes
  CHECK(fast.list().committed == std::vector<std::uint64_t>{7});
  CHECK(slow.list().committed == std::vector<std::uint64_t>{4, 6});
  CHECK(c.versions() == std::vector<std::uint64_t>{4, 6, 7});
  CHECK_FALSE(fs::exists(dir.path() / "v00000002"));

  ckpt_t::options bad = o;
  bad.directory = dir.path() / "other";
  bad.storage.keep_flushed = 0;
  CHECK_THROWS_WITH((ckpt_t{comm::solo{}, bad}), Catch::Contains("keep_flushed = 0"));
}
