// Single-process checks of the checkpointer (comm::solo). The same behaviour
// under mpiexec with several ranks is checked in tests/mpi/checkpoint.
#include <catch2/catch.hpp>
#include <strata/strata.hpp>
#include <support/files.hpp>

#include <fstream>
#include <sstream>

using namespace strata;
namespace fs = std::filesystem;

namespace {
using solo_ckpt = checkpointer<comm::solo>;

solo_ckpt::options opts(fs::path const& dir, std::ostream* log = nullptr) {
  solo_ckpt::options o;
  o.directory = dir;
  o.trigger = {.n = 1};
  o.retention = {.count = 10};
  o.log = log;
  return o;
}

/// State whose content encodes the version it was saved at.
struct app_state {
  std::vector<double> field = std::vector<double>(1000);
  std::uint64_t step = 0;
  void set(std::uint64_t s) {
    step = s;
    for (std::size_t i = 0; i < field.size(); ++i) field[i] = static_cast<double>(s * 1000 + i);
  }
  bool is(std::uint64_t s) const {
    if (step != s) return false;
    for (std::size_t i = 0; i < field.size(); ++i)
      if (field[i] != static_cast<double>(s * 1000 + i)) return false;
    return true;
  }
};

/// Writes versions 1..n where version k holds app_state set(k).
void write_versions(fs::path const& dir, int n) {
  app_state s;
  solo_ckpt ckpt{comm::solo{}, opts(dir)};
  ckpt.protect("field", s.field);
  ckpt.protect("step", s.step);
  for (int k = 1; k <= n; ++k) {
    s.set(static_cast<std::uint64_t>(k));
    REQUIRE(ckpt.step(s.step));
  }
}

/// Restores into a fresh state; returns the version and the state.
std::pair<std::optional<std::uint64_t>, app_state> restore(fs::path const& dir, std::ostream* log = nullptr) {
  app_state s;
  s.set(999);
  solo_ckpt ckpt{comm::solo{}, opts(dir, log)};
  ckpt.protect("field", s.field);
  ckpt.protect("step", s.step);
  auto v = ckpt.restore_latest();
  return {v, s};
}
}  // namespace

TEST_CASE("checkpoint then restore gives back the state of the newest version", "[checkpoint]") {
  test::scratch_dir dir{comm::solo{}, "roundtrip"};
  auto [none, _] = restore(dir);
  CHECK_FALSE(none);
  write_versions(dir, 3);
  auto [v, s] = restore(dir);
  REQUIRE(v == 3u);
  CHECK(s.is(3));
}

TEST_CASE("the manifest records sizes, checksums and a hash chain to the parent", "[checkpoint][manifest]") {
  test::scratch_dir dir{comm::solo{}, "chain"};
  write_versions(dir, 2);
  auto read = [&](std::uint64_t v) {
    std::ifstream f(test::manifest_path(dir, v));
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  };
  auto const m1_text = read(1), m2_text = read(2);
  auto m1 = checkpoint::manifest::parse(m1_text, "v1");
  auto m2 = checkpoint::manifest::parse(m2_text, "v2");
  CHECK_FALSE(m1.parent);
  REQUIRE(m2.parent);
  CHECK(m2.parent->version == 1);
  CHECK(m2.parent->id == m1.id);
  CHECK(m2.parent->manifest_xxh3 == detail::xxh3(m1_text));
  REQUIRE(m2.shards.size() == 1);
  CHECK(m2.shards[0].bytes == fs::file_size(test::shard_path(dir, 2, 0)));
  CHECK(m2.step == 2);
  CHECK(m2.version_vector == std::vector<std::uint64_t>{2});
  CHECK(m2.shards[0].location == "v00000002/r00000.shard");
}

TEST_CASE("a damaged newest version falls back to the previous one with a warning", "[checkpoint][fault]") {
  test::scratch_dir dir{comm::solo{}, "fallback"};
  write_versions(dir, 3);
  std::ostringstream log;
  std::string expect;
  SECTION("bit flip in the shard payload") {
    test::flip_bit(test::shard_path(dir, 3, 0), -100, 3);
    expect = "checksum mismatch";
  }
  SECTION("truncated shard") {
    test::truncate_to(test::shard_path(dir, 3, 0), 100);
    expect = "truncated";
  }
  SECTION("missing shard") {
    fs::remove(test::shard_path(dir, 3, 0));
    expect = "missing";
  }
  SECTION("bit flip in the manifest") {
    auto const p = test::manifest_path(dir, 3);
    std::string text;
    {
      std::ifstream f(p);
      std::stringstream ss;
      ss << f.rdbuf();
      text = ss.str();
    }
    auto const at = text.find("\"step\": 3");
    REQUIRE(at != std::string::npos);
    test::flip_bit(p, static_cast<long long>(at + 8), 1);  // step 3 -> step 1: still valid JSON
    expect = "manifest checksum mismatch";
  }
  SECTION("manifest that is not JSON") {
    std::ofstream(test::manifest_path(dir, 3)) << "garbage";
    expect = "not valid JSON";
  }
  auto [v, s] = restore(dir, &log);
  INFO(log.str());
  REQUIRE(v == 2u);
  CHECK(s.is(2));
  CHECK_THAT(log.str(), Catch::Contains("version 3 is not usable") && Catch::Contains(expect) &&
                            Catch::Contains("falling back"));
}

TEST_CASE("a version without its commit record does not exist", "[checkpoint][fault]") {
  test::scratch_dir dir{comm::solo{}, "nocommit"};
  write_versions(dir, 3);
  fs::remove(test::manifest_path(dir, 3));
  auto [v, s] = restore(dir);
  REQUIRE(v == 2u);
  CHECK(s.is(2));
}

TEST_CASE("when every version is damaged, restore refuses rather than start afresh", "[checkpoint][fault]") {
  test::scratch_dir dir{comm::solo{}, "alldamaged"};
  write_versions(dir, 2);
  test::flip_bit(test::shard_path(dir, 1, 0), -1);
  test::flip_bit(test::shard_path(dir, 2, 0), -1);
  REQUIRE_THROWS_AS(restore(dir), restore_error);
}

TEST_CASE("restore refuses a protected name the checkpoint lacks, and leaves state untouched", "[checkpoint]") {
  test::scratch_dir dir{comm::solo{}, "unknown"};
  write_versions(dir, 1);
  app_state s;
  s.set(7);
  double extra = 1.5;
  solo_ckpt ckpt{comm::solo{}, opts(dir)};
  ckpt.protect("field", s.field);
  ckpt.protect("step", s.step);
  ckpt.protect("extra", extra);
  REQUIRE_THROWS_WITH(ckpt.restore_latest(), Catch::Contains("'extra' is not in version 1") && Catch::Contains("rank 0"));
  CHECK(s.is(7));
  CHECK(extra == 1.5);
}

TEST_CASE("restore refuses another element type, naming region and types", "[checkpoint]") {
  test::scratch_dir dir{comm::solo{}, "type"};
  write_versions(dir, 1);
  std::vector<float> field;
  std::uint64_t step = 0;
  solo_ckpt ckpt{comm::solo{}, opts(dir)};
  ckpt.protect("field", field);
  ckpt.protect("step", step);
  REQUIRE_THROWS_WITH(ckpt.restore_latest(), Catch::Contains("region 'field'") && Catch::Contains("'f64'") &&
                                                 Catch::Contains("'f32'"));
}

TEST_CASE("retention keeps the last K versions", "[checkpoint][retention]") {
  test::scratch_dir dir{comm::solo{}, "retention"};
  std::vector<int> x(10);
  checkpointer<comm::solo, snapshot::full, storage::posix_dir, consistency::coordinated, trigger::every_n,
               retention::keep_last<2>>
      ckpt{comm::solo{}, {.directory = dir.path(), .trigger = {.n = 1}, .log = nullptr}};
  ckpt.protect("x", x);
  for (std::uint64_t i = 1; i <= 5; ++i) ckpt.step(i);
  CHECK(ckpt.versions() == std::vector<std::uint64_t>{4, 5});
  CHECK_FALSE(fs::exists(dir.path() / "v00000003"));
  CHECK_FALSE(fs::exists(test::manifest_path(dir, 3)));
  CHECK(fs::exists(test::shard_path(dir, 4, 0)));
  retention::keep_last<3> k;
  std::vector<std::uint64_t> c{1, 2, 3, 4, 5};
  CHECK(k.retire(c) == std::vector<std::uint64_t>{1, 2});
}

TEST_CASE("rolling back to an older version starts a new branch without overwriting history", "[checkpoint]") {
  test::scratch_dir dir{comm::solo{}, "branch"};
  write_versions(dir, 4);
  app_state s;
  solo_ckpt ckpt{comm::solo{}, opts(dir)};
  ckpt.protect("field", s.field);
  ckpt.protect("step", s.step);
  REQUIRE(ckpt.restore(2) == 2u);
  CHECK(s.is(2));
  s.set(50);
  auto const v = ckpt.checkpoint();
  CHECK(v == 5u);
  auto m5 = checkpoint::manifest::parse(*ckpt.storage().read_commit(5), "v5");
  REQUIRE(m5.parent);
  CHECK(m5.parent->version == 2);
  CHECK(ckpt.versions() == std::vector<std::uint64_t>{1, 2, 3, 4, 5});
  auto [latest, st] = restore(dir);
  CHECK(latest == 5u);
  CHECK(st.is(50));
  REQUIRE_THROWS_AS(ckpt.restore(42), restore_error);
}

TEST_CASE("a foreign file in the directory is named in a warning and ignored", "[checkpoint]") {
  test::scratch_dir dir{comm::solo{}, "foreign"};
  write_versions(dir, 1);
  std::ofstream(dir.path() / "notes.txt") << "hello";
  std::ostringstream log;
  auto [v, s] = restore(dir, &log);
  CHECK(v == 1u);
  CHECK_THAT(log.str(), Catch::Contains("foreign entry") && Catch::Contains("notes.txt"));
  CHECK_THAT(log.str(), !Catch::Contains(".strata.lock"));  // the job's own lock is not foreign
}

TEST_CASE("an unusable directory is an error naming it and the rank", "[checkpoint]") {
  test::scratch_dir dir{comm::solo{}, "baddir"};
  fs::create_directories(dir.path());
  std::ofstream(dir.path() / "file") << "x";
  REQUIRE_THROWS_WITH((solo_ckpt{comm::solo{}, opts(dir.path() / "file" / "ckpt")}),
                      Catch::Contains("rank 0") && Catch::Contains("file/ckpt"));
}

TEST_CASE("checkpointing with nothing protected is a usage error", "[checkpoint]") {
  test::scratch_dir dir{comm::solo{}, "empty"};
  solo_ckpt ckpt{comm::solo{}, opts(dir)};
  REQUIRE_THROWS_AS(ckpt.checkpoint(), usage_error);
}

TEST_CASE("step() asks the trigger", "[checkpoint][trigger]") {
  test::scratch_dir dir{comm::solo{}, "trigger"};
  int x = 0;
  solo_ckpt ckpt{comm::solo{}, {.directory = dir.path(), .trigger = {.n = 3}, .log = nullptr}};
  ckpt.protect("x", x);
  std::vector<std::uint64_t> taken;
  for (std::uint64_t i = 1; i <= 10; ++i)
    if (ckpt.step(i)) taken.push_back(i);
  CHECK(taken == std::vector<std::uint64_t>{3, 6, 9});
  CHECK(ckpt.last_stats().version == 3);
  CHECK(ckpt.last_stats().bytes > sizeof(int));
}
