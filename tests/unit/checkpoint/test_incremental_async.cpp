// The checkpointer with snapshot::incremental chains, compression and the asynchronous writer
// (comm::solo; the same under mpiexec in tests/mpi/checkpoint/test_incremental_async_mpi.cpp).
#include <catch2/catch.hpp>
#include <strata/checkpoint/checkpointer.hpp>
#include <strata/comm/solo.hpp>
#include <strata/snapshot/compressed.hpp>
#include <strata/snapshot/incremental.hpp>
#include <strata/storage/multilevel.hpp>
#include <support/files.hpp>

#include <fstream>
#include <mutex>
#include <set>
#include <thread>

using namespace strata;
namespace fs = std::filesystem;

namespace {
std::ostream* test_log() { return std::getenv("STRATA_TEST_LOG") ? &std::cerr : nullptr; }
std::string read_text(fs::path const& p) {
  std::ifstream f(p);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
using inc_t = snapshot::incremental<4096>;
using inc_ckpt = checkpointer<comm::solo, inc_t>;

/// 64 blocks of 4 KiB; `touch(k)` changes block k only.
struct field_state {
  std::vector<double> u = std::vector<double>(512 * 64, 0.0);
  std::uint64_t tag = 0;
  void touch(std::size_t block, double value) { u[block * 512 + 1] = value; }
};

/// A posix_dir that can be slowed down or made to fail a chosen version (background writer tests).
struct test_dir : storage::posix_dir {
  static constexpr std::string_view name = "posix_dir";
  std::shared_ptr<std::atomic<int>> delay_ms = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<std::atomic<std::uint64_t>> fail_version = std::make_shared<std::atomic<std::uint64_t>>(0);
  void write_shard(std::uint64_t v, snapshot::encoded_shard const& s) {
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms->load()));
    if (v == fail_version->load()) throw checkpoint_error("test: refusing to write version " + std::to_string(v));
    posix_dir::write_shard(v, s);
  }
  friend bool operator==(test_dir const&, test_dir const&) noexcept { return true; }
};
}  // namespace

inc_ckpt::options inc_opts(fs::path const& dir, std::size_t keep = 10, std::size_t chain = 4) {
  inc_ckpt::options o;
  o.directory = dir;
  o.retention = {.count = keep};
  o.snapshot.max_chain = chain;
  o.log = test_log();
  return o;
}

TEST_CASE("incremental checkpointer: deltas are small, restore rebuilds, retention keeps the chain", "[incremental]") {
  test::scratch_dir dir{comm::solo{}, "inc"};
  field_state s;
  std::vector<std::uint64_t> bytes;
  {
    inc_ckpt ck{comm::solo{}, inc_opts(dir.path(), 2)};
    ck.protect("u", s.u);
    ck.protect("tag", s.tag);
    for (std::uint64_t v = 1; v <= 6; ++v) {
      s.tag = v;
      s.touch(v, static_cast<double>(v));
      ck.checkpoint();
      bytes.push_back(ck.last_stats().bytes);
      if (v == 4) CHECK(ck.versions() == std::vector<std::uint64_t>{1, 2, 3, 4});  // 4 needs 1..3
      if (v == 5) CHECK(ck.versions() == std::vector<std::uint64_t>{1, 2, 3, 4, 5});
    }
    // 1 base, 2..4 deltas, 5 base, 6 delta; keep_last 2 keeps 5 and 6 only (6 needs 5).
    CHECK(ck.versions() == std::vector<std::uint64_t>{5, 6});
    CHECK(bytes[1] < bytes[0] / 10);
    CHECK(bytes[4] > bytes[0] / 2);
  }
  auto const m6 = checkpoint::manifest::parse(read_text(test::manifest_path(dir.path(), 6)), "v6");
  CHECK(m6.depends_on == std::vector<std::uint64_t>{5});
  field_state r;
  inc_ckpt ck{comm::solo{}, inc_opts(dir.path(), 2)};
  ck.protect("u", r.u);
  ck.protect("tag", r.tag);
  REQUIRE(ck.restore_latest() == 6u);
  CHECK(r.u == s.u);
  CHECK(r.tag == 6);
  // The next version is a delta on the restored chain.
  r.touch(9, 9.0);
  CHECK(ck.checkpoint() == 7u);
  CHECK(checkpoint::manifest::parse(read_text(test::manifest_path(dir.path(), 7)), "v7").depends_on ==
        std::vector<std::uint64_t>{5, 6});
}

TEST_CASE("incremental checkpointer: a broken chain falls back to the newest version whose chain verifies",
          "[incremental]") {
  test::scratch_dir dir{comm::solo{}, "inc-broken"};
  field_state s;
  std::vector<std::vector<double>> saved(8);
  {
    inc_ckpt ck{comm::solo{}, inc_opts(dir.path(), 10, 3)};  // chains 1-2-3, 4-5-6, 7
    ck.protect("u", s.u);
    ck.protect("tag", s.tag);
    for (std::uint64_t v = 1; v <= 6; ++v) {
      s.tag = v;
      s.touch(v, static_cast<double>(v));
      saved[v] = s.u;
      ck.checkpoint();
    }
  }
  auto restore = [&] {
    field_state r;
    inc_ckpt ck{comm::solo{}, inc_opts(dir.path(), 10, 3)};
    ck.protect("u", r.u);
    ck.protect("tag", r.tag);
    auto v = ck.restore_latest();
    REQUIRE(v);
    CHECK(r.tag == *v);
    CHECK(r.u == saved[*v]);
    return *v;
  };
  SECTION("corrupt delta 5: 6 and 5 are unusable, 4 (a base) is restored") {
    test::flip_bit(test::shard_path(dir.path(), 5, 0), -10);
    CHECK(restore() == 4u);
  }
  SECTION("missing delta 5") {
    fs::remove(test::shard_path(dir.path(), 5, 0));
    CHECK(restore() == 4u);
  }
  SECTION("truncated base 4: back to the first chain") {
    test::truncate_to(test::shard_path(dir.path(), 4, 0), 100);
    CHECK(restore() == 3u);
  }
  SECTION("rollback to 2, then a branch: new deltas build on 2") {
    field_state r;
    inc_ckpt ck{comm::solo{}, inc_opts(dir.path(), 10, 3)};
    ck.protect("u", r.u);
    ck.protect("tag", r.tag);
    CHECK(ck.restore(2) == 2u);
    CHECK(r.u == saved[2]);
    r.touch(40, 40.0);
    CHECK(ck.checkpoint() == 7u);
    CHECK(checkpoint::manifest::parse(read_text(test::manifest_path(dir.path(), 7)), "v7").depends_on ==
          std::vector<std::uint64_t>{1, 2});
    auto const branch = r.u;
    field_state q;
    inc_ckpt ck2{comm::solo{}, inc_opts(dir.path(), 10, 3)};
    ck2.protect("u", q.u);
    ck2.protect("tag", q.tag);
    CHECK(ck2.restore_latest() == 7u);
    CHECK(q.u == branch);
  }
}

TEST_CASE("compressed incremental checkpointer round-trips", "[incremental]") {
  using comp_ckpt = checkpointer<comm::solo, snapshot::compressed<inc_t>>;
  test::scratch_dir dir{comm::solo{}, "inc-zstd"};
  field_state s;
  {
    comp_ckpt ck{comm::solo{}, {.directory = dir.path(), .log = test_log()}};
    ck.protect("u", s.u);
    for (int v = 1; v <= 3; ++v) {
      s.touch(static_cast<std::size_t>(v), v);
      ck.checkpoint();
    }
    CHECK(ck.last_stats().bytes < 600);  // one dirty 4 KiB block of mostly zeros, plus headers
  }
  field_state r;
  comp_ckpt ck{comm::solo{}, {.directory = dir.path(), .log = test_log()}};
  ck.protect("u", r.u);
  CHECK(ck.restore_latest() == 3u);
  CHECK(r.u == s.u);
}

TEMPLATE_TEST_CASE("async: the saved state is the state at the call, even when mutated right after",
                   "[async]", snapshot::full, inc_t, (snapshot::compressed<inc_t, snapshot::zstd_codec>)) {
  using ck_t = checkpointer<comm::solo, TestType, test_dir>;
  test::scratch_dir dir{comm::solo{}, "async"};
  field_state s;
  std::vector<std::vector<double>> saved;
  {
    typename ck_t::options o;
    o.directory = dir.path();
    o.async = true;
    o.log = test_log();
    *o.storage.delay_ms = 300;  // the writer is much slower than the application
    ck_t ck{comm::solo{}, o};
    REQUIRE(ck.asynchronous());
    ck.protect("u", s.u);
    ck.protect("tag", s.tag);
    for (std::uint64_t v = 1; v <= 3; ++v) {
      s.tag = v;
      s.touch(v, 1.0);
      saved.push_back(s.u);
      auto const t0 = std::chrono::steady_clock::now();
      CHECK(ck.checkpoint() == v);
      // 1 starts at once, 2 waits behind it without blocking; 3 finds a forced one waiting and blocks.
      if (v <= 2) CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(150));
      std::fill(s.u.begin(), s.u.end(), -1.0);  // mutate at once: must not reach the files
      s.tag = 999;
    }
    ck.wait();
    CHECK(ck.versions() == std::vector<std::uint64_t>{1, 2, 3});
    CHECK(ck.last_stats().superseded == 0);  // forced checkpoints are never superseded
  }
  for (std::uint64_t v = 1; v <= 3; ++v) {
    field_state r;
    ck_t ck{comm::solo{}, {.directory = dir.path(), .log = test_log()}};
    ck.protect("u", r.u);
    ck.protect("tag", r.tag);
    CHECK(ck.restore(v) == v);
    CHECK(r.tag == v);
    CHECK(r.u == saved[v - 1]);
  }
}

namespace {
/// lane_hash that notes every thread it runs on.
struct noting_hash {
  static inline std::mutex mu;
  static inline std::set<std::thread::id> threads;
  std::uint64_t operator()(std::byte const* p, std::size_t n) const {
    {
      std::lock_guard g{mu};
      threads.insert(std::this_thread::get_id());
    }
    return snapshot::lane_hash{}(p, n);
  }
  friend bool operator==(noting_hash, noting_hash) noexcept { return true; }
};
}  // namespace

TEST_CASE("async: the caller only copies; hashing and encoding run on the writer's thread", "[async]") {
  using ck_t = checkpointer<comm::solo, snapshot::incremental<4096, noting_hash>>;
  test::scratch_dir dir{comm::solo{}, "async-offthread"};
  field_state s;
  {
    ck_t ck{comm::solo{}, {.directory = dir.path(), .async = true, .log = test_log()}};
    ck.protect("u", s.u);
    for (std::uint64_t v = 1; v <= 3; ++v) {
      s.touch(v, 2.0);
      CHECK(ck.checkpoint() == v);
    }
    ck.wait();
    CHECK(ck.snapshot_policy().depends_on() == std::vector<std::uint64_t>{1, 2});  // deltas: hashes were compared
    CHECK(ck.snapshot_policy().last_dirty_bytes() == 4096);
  }
  {
    std::lock_guard g{noting_hash::mu};
    CHECK(!noting_hash::threads.empty());
    CHECK(noting_hash::threads.count(std::this_thread::get_id()) == 0);  // never on the caller's thread
    noting_hash::threads.clear();
  }
  field_state r;
  ck_t ck{comm::solo{}, {.directory = dir.path(), .log = test_log()}};  // synchronous: the restore checks here
  ck.protect("u", r.u);
  CHECK(ck.restore_latest() == 3u);
  CHECK(r.u == s.u);
}

TEST_CASE("async: a writer that falls behind supersedes waiting periodic versions, never a forced one",
          "[async]") {
  using ck_t = checkpointer<comm::solo, inc_t, test_dir, consistency::coordinated, trigger::every_n>;
  test::scratch_dir dir{comm::solo{}, "async-behind"};
  field_state s;
  ck_t::options o;
  o.directory = dir.path();
  o.async = true;
  o.log = test_log();
  o.trigger = {.n = 1};
  o.retention = {.count = 100};
  *o.storage.delay_ms = 150;
  std::uint64_t forced = 0;
  {
    ck_t ck{comm::solo{}, o};
    ck.protect("u", s.u);
    ck.protect("tag", s.tag);
    for (std::uint64_t i = 1; i <= 6; ++i) {
      s.tag = i;
      s.touch(i, static_cast<double>(i));
      if (i == 4) forced = ck.checkpoint();
      else ck.step(i);
    }
    ck.wait();
    auto const vs = ck.versions();
    CHECK(ck.last_stats().superseded >= 1);
    CHECK(vs.size() < 6);
    CHECK(std::find(vs.begin(), vs.end(), forced) != vs.end());
    CHECK(vs.back() == 6u);  // the newest state is never dropped
  }
  field_state r;
  ck_t ck{comm::solo{}, {.directory = dir.path(), .log = test_log()}};
  ck.protect("u", r.u);
  ck.protect("tag", r.tag);
  CHECK(ck.restore_latest() == 6u);
  CHECK(r.u == s.u);  // the chain across superseded versions is intact
}

TEST_CASE("async: a failed background version is reported by wait(), the previous one stays", "[async]") {
  using ck_t = checkpointer<comm::solo, inc_t, test_dir>;
  test::scratch_dir dir{comm::solo{}, "async-fail"};
  field_state s;
  ck_t::options o;
  o.directory = dir.path();
  o.async = true;
  o.log = test_log();
  *o.storage.fail_version = 2;
  ck_t ck{comm::solo{}, o};
  ck.protect("u", s.u);
  s.touch(1, 1.0);
  ck.checkpoint();
  s.touch(2, 2.0);
  ck.checkpoint();
  CHECK_THROWS_WITH(ck.wait(), Catch::Contains("refusing to write version 2"));
  CHECK(ck.versions() == std::vector<std::uint64_t>{1});
  s.touch(3, 3.0);
  auto const v = ck.checkpoint();  // works again, as a new base, and never reuses number 2
  CHECK(v == 3u);
  ck.wait();
  CHECK(ck.versions().back() == v);
  field_state r;
  ck_t ck2{comm::solo{}, {.directory = dir.path(), .log = test_log()}};
  ck2.protect("u", r.u);
  CHECK(ck2.restore_latest() == v);
  CHECK(r.u == s.u);
}

TEST_CASE("async: destruction drains the queue", "[async]") {
  test::scratch_dir dir{comm::solo{}, "async-drain"};
  field_state s;
  {
    checkpointer<comm::solo> ck{comm::solo{}, {.directory = dir.path(), .async = true, .log = test_log()}};
    ck.protect("u", s.u);
    s.touch(3, 3.0);
    ck.checkpoint();
  }  // no wait()
  field_state r;
  checkpointer<comm::solo> ck{comm::solo{}, {.directory = dir.path(), .log = test_log()}};
  ck.protect("u", r.u);
  CHECK(ck.restore_latest() == 1u);
  CHECK(r.u == s.u);
}

TEST_CASE("multilevel + incremental: a version on the slow level has its whole chain there (issue 9, item 5)",
          "[checkpoint][incremental][multilevel]") {
  // Every version to DIR/fast, every 2nd also to DIR; chains of up to 4. The fast level is lost:
  // the newest version on the slow level alone must restore, exactly.
  test::scratch_dir dir{comm::solo{}, "ml_chain"};
  using store = storage::multilevel<storage::posix_dir, storage::posix_dir, 2>;
  using ckpt_t = checkpointer<comm::solo, inc_t, store>;
  ckpt_t::options o;
  o.directory = dir.path();
  o.retention = {.count = 10};
  o.snapshot.max_chain = 4;
  o.log = test_log();
  field_state s;
  std::vector<double> at4;
  {
    ckpt_t c{comm::solo{}, o};
    c.protect("u", s.u);
    c.protect("tag", s.tag);
    for (std::uint64_t v = 1; v <= 5; ++v) {
      s.touch(v, double(v));
      s.tag = v;
      REQUIRE(c.checkpoint() == v);
      if (v == 4) at4 = s.u;
    }
  }
  // Only the flushed versions are on the slow level, and each is a base.
  for (std::uint64_t v : {2, 4}) {
    auto const text = read_text(dir.path() / ("v0000000" + std::to_string(v) + ".manifest.json"));
    CHECK_THAT(text, !Catch::Contains("depends_on"));
  }
  CHECK_FALSE(fs::exists(dir.path() / "v00000003.manifest.json"));
  fs::remove_all(dir.path() / "fast");  // the node-local level is gone
  field_state back;
  ckpt_t c{comm::solo{}, o};
  c.protect("u", back.u);
  c.protect("tag", back.tag);
  auto const v = c.restore_latest();
  REQUIRE(v);
  CHECK(*v == 4);
  CHECK(back.tag == 4);
  CHECK(back.u == at4);
}
