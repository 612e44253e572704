// storage::mpiio_file under real mpiexec (n = 1, 2, 4): one shared file per version written
// collectively at exclusive-prefix-sum offsets; commit, restore, fallback on damage, async.
#include <catch2/catch.hpp>
#include <strata/checkpoint/checkpointer.hpp>
#include <strata/comm/mpi.hpp>
#include <strata/snapshot/incremental.hpp>
#include <strata/storage/mpiio_file.hpp>
#include <support/files.hpp>

#include <fstream>

using namespace strata;
namespace fs = std::filesystem;

namespace {
std::ostream* mpiio_log() { return std::getenv("STRATA_TEST_LOG") ? &std::cerr : nullptr; }

/// Per-rank state of a rank-dependent size whose content encodes (rank, version).
struct rank_state {
  int rank;
  std::vector<double> field;
  std::uint64_t step = 0;
  explicit rank_state(int r) : rank(r) {}
  void set(std::uint64_t v) {
    step = v;
    field.assign(static_cast<std::size_t>(1000 * (rank + 1)), 0.0);
    for (std::size_t i = 0; i < field.size(); ++i) field[i] = rank * 1e6 + static_cast<double>(v * 10000 + i);
  }
  [[nodiscard]] bool is(std::uint64_t v) const {
    rank_state want{rank};
    want.set(v);
    return step == v && field == want.field;
  }
};

template <class Snapshot = snapshot::full>
using mpiio_ckpt = checkpointer<comm::mpi, Snapshot, storage::mpiio_file>;

template <class Snapshot = snapshot::full>
typename mpiio_ckpt<Snapshot>::options opts(fs::path const& dir, bool async = false) {
  typename mpiio_ckpt<Snapshot>::options o;
  o.directory = dir;
  o.async = async;
  o.retention = {.count = 10};
  o.log = mpiio_log();
  return o;
}

std::vector<std::uint64_t> read_u64(fs::path const& p, std::size_t n, std::uint64_t at = 0) {
  std::ifstream f(p, std::ios::binary);
  f.seekg(static_cast<std::streamoff>(at));
  std::vector<std::uint64_t> out(n);
  f.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(n * 8));
  REQUIRE(f.good());
  return out;
}
}  // namespace

TEST_CASE("mpiio_file: one shared file per version, shards at prefix-sum offsets, restore", "[mpiio]") {
  comm::mpi world{MPI_COMM_WORLD};
  int const rank = world.rank(), size = world.size();
  test::scratch_dir dir{world, "mpiio"};
  rank_state s{rank};
  {
    mpiio_ckpt<> ck{world, opts(dir.path())};
    ck.protect("field", s.field);
    ck.protect("step", s.step);
    for (std::uint64_t v = 1; v <= 3; ++v) {
      s.set(v);
      CHECK(ck.checkpoint() == v);
    }
    CHECK(ck.versions() == std::vector<std::uint64_t>{1, 2, 3});
    // Layout: header (magic, ranks, offset/bytes per rank), shards back to back in rank order.
    auto const file = ck.storage().file_path(3);
    REQUIRE(fs::exists(file));
    std::size_t shard_files = 0;
    for (auto const& e : fs::directory_iterator(dir.path())) shard_files += e.path().extension() == ".mpiio";
    CHECK(shard_files == 3);  // one file per version, whatever the rank count
    auto const head = read_u64(file, 2 + 2 * static_cast<std::size_t>(size));
    CHECK(head[1] == static_cast<std::uint64_t>(size));
    std::uint64_t off = storage::mpiio_file::header_bytes(static_cast<std::uint64_t>(size));
    auto const sizes = world.all_gather(ck.last_stats().bytes);
    for (int r = 0; r < size; ++r) {
      CHECK(head[2 + 2 * r] == off);
      CHECK(head[3 + 2 * r] == sizes[static_cast<std::size_t>(r)]);
      off += sizes[static_cast<std::size_t>(r)];
    }
    CHECK(fs::file_size(file) == off);
  }
  rank_state r{rank};
  mpiio_ckpt<> ck{world, opts(dir.path())};
  ck.protect("field", r.field);
  ck.protect("step", r.step);
  REQUIRE(ck.restore_latest() == 3u);
  CHECK(r.is(3));
  CHECK(ck.restore(1) == 1u);
  CHECK(r.is(1));
}

TEST_CASE("mpiio_file: a flipped bit in one rank's part of the shared file falls back on every rank", "[mpiio]") {
  comm::mpi world{MPI_COMM_WORLD};
  int const rank = world.rank(), size = world.size();
  test::scratch_dir dir{world, "mpiio-flip"};
  rank_state s{rank};
  fs::path file3, file2;
  {
    mpiio_ckpt<> ck{world, opts(dir.path())};
    ck.protect("field", s.field);
    ck.protect("step", s.step);
    for (std::uint64_t v = 1; v <= 3; ++v) {
      s.set(v);
      ck.checkpoint();
    }
    file3 = ck.storage().file_path(3);
    file2 = ck.storage().file_path(2);
  }
  auto restore = [&] {
    rank_state r{rank};
    mpiio_ckpt<> ck{world, opts(dir.path())};
    ck.protect("field", r.field);
    ck.protect("step", r.step);
    auto const v = ck.restore_latest();
    REQUIRE(v);
    CHECK(r.is(*v));
    return *v;
  };
  SECTION("bit flip inside the last rank's shard of version 3") {
    if (rank == 0) {
      auto const head = read_u64(file3, 2 + 2 * static_cast<std::size_t>(size));
      auto const last = static_cast<std::size_t>(size - 1);
      test::flip_bit(file3, static_cast<long long>(head[2 + 2 * last] + head[3 + 2 * last] / 2), 3);
    }
    world.barrier();
    CHECK(restore() == 2u);
  }
  SECTION("truncated shared file of version 3, damaged header of version 2") {
    if (rank == 0) {
      test::truncate_to(file3, fs::file_size(file3) - 5);
      test::flip_bit(file2, 0, 1);  // magic
    }
    world.barrier();
    CHECK(restore() == 1u);
  }
}

TEST_CASE("mpiio_file: the background writer's collective writes, incremental deltas", "[mpiio][async]") {
  comm::mpi world{MPI_COMM_WORLD};
  int const rank = world.rank();
  test::scratch_dir dir{world, "mpiio-async"};
  using inc = snapshot::incremental<4096>;
  rank_state s{rank};
  {
    mpiio_ckpt<inc> ck{world, opts<inc>(dir.path(), true)};
    REQUIRE(ck.asynchronous());
    ck.protect("field", s.field);
    ck.protect("step", s.step);
    for (std::uint64_t v = 1; v <= 4; ++v) {
      s.set(v);
      ck.checkpoint();
      s.field.assign(s.field.size(), -1.0);  // mutated at once: the staged state is what is written
    }
    ck.wait();
    CHECK(ck.versions() == std::vector<std::uint64_t>{1, 2, 3, 4});
  }
  rank_state r{rank};
  mpiio_ckpt<inc> ck{world, opts<inc>(dir.path())};
  ck.protect("field", r.field);
  ck.protect("step", r.step);
  REQUIRE(ck.restore_latest() == 4u);
  CHECK(r.is(4));
}
