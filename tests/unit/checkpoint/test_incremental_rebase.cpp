// The checkpointer with snapshot::incremental on densely updated data (issue 10 item 8): a delta
// that would be nearly as large as the state is written as a base, so keep_last<K> keeps K full
// copies plus one chain on disk, not every version; sparse updates still write deltas.
#include <catch2/catch.hpp>
#include <strata/checkpoint/checkpointer.hpp>
#include <strata/comm/solo.hpp>
#include <strata/snapshot/incremental.hpp>
#include <support/files.hpp>

#include <fstream>

using namespace strata;
namespace fs = std::filesystem;

namespace {
constexpr std::size_t keep = 3;
using inc_t = snapshot::incremental<4096>;
using inc_ckpt = checkpointer<comm::solo, inc_t, storage::posix_dir, consistency::coordinated, trigger::every_n,
                              retention::keep_last<keep>>;

std::string read_text(fs::path const& p) {
  std::ifstream f(p);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
std::vector<std::uint64_t> depends_on(fs::path const& dir, std::uint64_t v) {
  return checkpoint::manifest::parse(read_text(test::manifest_path(dir, v)), "v" + std::to_string(v)).depends_on;
}
/// Bytes of every file under `dir`.
std::uintmax_t bytes_on_disk(fs::path const& dir) {
  std::uintmax_t n = 0;
  for (auto const& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) n += e.file_size();
  return n;
}

/// 64 blocks of 4 KiB (256 KiB); `touch(k, x)` changes block k only.
struct field_state {
  std::vector<double> u = std::vector<double>(512 * 64, 0.0);
  std::uint64_t tag = 0;
  void touch(std::size_t block, double value) { u[block * 512 + 1] = value; }
  void touch_all(double value) {
    for (std::size_t b = 0; b < 64; ++b) touch(b, value + static_cast<double>(b));
  }
};

inc_ckpt::options opts(fs::path const& dir, std::size_t chain = 8) {
  inc_ckpt::options o;
  o.directory = dir;
  o.snapshot.max_chain = chain;
  o.preemption.signals.clear();
  o.log = std::getenv("STRATA_TEST_LOG") ? &std::cerr : nullptr;
  return o;
}
}  // namespace

TEST_CASE("incremental checkpointer: every block dirty at every version, keep_last<3> keeps 3 full copies",
          "[incremental][rebase]") {
  test::scratch_dir dir{comm::solo{}, "inc-dense"};
  field_state s;
  std::uintmax_t one_copy = 0;
  {
    inc_ckpt ck{comm::solo{}, opts(dir.path())};
    ck.protect("u", s.u);
    ck.protect("tag", s.tag);
    for (std::uint64_t v = 1; v <= 10; ++v) {
      s.tag = v;
      s.touch_all(static_cast<double>(v));
      REQUIRE(ck.checkpoint() == v);
      INFO("version " << v);
      CHECK(depends_on(dir.path(), v).empty());  // a base: the delta would hold every block
      auto const on_disk = bytes_on_disk(dir.path());
      if (v == 1) one_copy = on_disk;  // one full copy, with its manifest and commit record
      // K full copies plus one chain (here a chain is one base): never every version.
      CHECK(on_disk <= (keep + 1) * one_copy);
    }
    CHECK(ck.versions() == std::vector<std::uint64_t>{8, 9, 10});
    CHECK(bytes_on_disk(dir.path()) <= keep * one_copy + one_copy / 10);
  }
  field_state r;
  inc_ckpt ck{comm::solo{}, opts(dir.path())};
  ck.protect("u", r.u);
  ck.protect("tag", r.tag);
  REQUIRE(ck.restore_latest() == 10u);
  CHECK(r.u == s.u);
  CHECK(r.tag == 10);
}

TEST_CASE("incremental checkpointer: sparse updates still write deltas", "[incremental][rebase]") {
  test::scratch_dir dir{comm::solo{}, "inc-sparse"};
  field_state s;
  {
    inc_ckpt ck{comm::solo{}, opts(dir.path(), 4)};
    ck.protect("u", s.u);
    ck.protect("tag", s.tag);
    for (std::uint64_t v = 1; v <= 6; ++v) {
      s.tag = v;
      s.touch(v, static_cast<double>(v));  // one block of 64
      REQUIRE(ck.checkpoint() == v);
    }
    // 1 base, 2..4 deltas (max_chain 4), 5 base, 6 delta.
    CHECK(depends_on(dir.path(), 4) == std::vector<std::uint64_t>{1, 2, 3});
    CHECK(depends_on(dir.path(), 5).empty());
    CHECK(depends_on(dir.path(), 6) == std::vector<std::uint64_t>{5});
    CHECK(ck.versions() == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6});  // 4, kept, needs its chain
  }
  field_state r;
  inc_ckpt ck{comm::solo{}, opts(dir.path(), 4)};
  ck.protect("u", r.u);
  ck.protect("tag", r.tag);
  REQUIRE(ck.restore_latest() == 6u);
  CHECK(r.u == s.u);
}
