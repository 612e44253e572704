// N→M restore reads only what it needs (SPEC S8, issue 9 item 6), under real mpiexec; N and M
// come from sub-communicators. Per new rank, the shard bytes read and held are its share plus the
// old shards' indexes, at most a block on each side of each range and the block hashes of what it
// reads; a damaged block it reads is caught and the whole job falls back to the same older version;
// damage in bytes no rank reads (a halo) does not stop the restore.
#include <catch2/catch.hpp>
#include <strata/strata.hpp>
#include <strata/snapshot/compressed.hpp>
#include <strata/snapshot/incremental.hpp>
#include <support/files.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>

using namespace strata;

namespace {
constexpr std::uint64_t global_size = std::uint64_t{1} << 20;  // doubles: 8 MiB in all
constexpr std::uint64_t halo = 20000;  // elements each side (more than two 64 KiB blocks), saved, never redistributed

double value_at(std::uint64_t g, std::uint64_t version) {
  return static_cast<double>(g) * 0.25 + static_cast<double>(version) * 1000.0;
}

/// Rank r of `ranks` holds global elements [first, first + count): a share ∝ r + 1 (uneven).
struct block {
  std::uint64_t first = 0, count = 0;
  [[nodiscard]] bool overlaps(block const& o) const {
    return std::max(first, o.first) < std::min(first + count, o.first + o.count);
  }
};
block block_of(int rank, int ranks) {
  std::uint64_t const weights = static_cast<std::uint64_t>(ranks) * static_cast<std::uint64_t>(ranks + 1) / 2;
  std::uint64_t acc = 0;
  for (int r = 0; r < rank; ++r) acc += static_cast<std::uint64_t>(r + 1);
  auto const first = global_size * acc / weights;
  return {first, global_size * (acc + static_cast<std::uint64_t>(rank) + 1) / weights - first};
}
int owner_of(std::uint64_t g, int ranks) {
  for (int r = 0; r < ranks; ++r)
    if (auto const b = block_of(r, ranks); g >= b.first && g < b.first + b.count) return r;
  return -1;
}

struct rank_state {
  block b;
  std::uint64_t step = 0;
  std::vector<double> field;
  rank_state(int rank, int ranks) : rank_state(block_of(rank, ranks)) {}
  explicit rank_state(block mine) : b(mine), field(b.count + 2 * halo, -1.0) {}
  void set(std::uint64_t version) {
    step = version;
    std::fill(field.begin(), field.end(), -7.0);  // the halos: the same in every version
    for (std::uint64_t i = 0; i < b.count; ++i) field[halo + i] = value_at(b.first + i, version);
  }
  [[nodiscard]] std::uint64_t wrong(std::uint64_t version) const {
    std::uint64_t bad = step != version;
    for (std::uint64_t i = 0; i < b.count; ++i) bad += field[halo + i] != value_at(b.first + i, version);
    return bad;
  }
  template <class C>
  void protect(C& ckpt) {
    ckpt.protect("field", field,
                 distributed{.global_offset = b.first, .global_size = global_size, .local_offset = halo, .local_count = b.count});
    ckpt.protect("step", step, replicated{});
  }
  /// What this rank restores: its window of the field and the step.
  [[nodiscard]] std::uint64_t share_bytes() const { return b.count * sizeof(double) + sizeof step; }
};

template <class Ckpt>
void write_versions(comm::mpi const& c, std::filesystem::path const& dir, std::uint64_t versions) {
  rank_state s{c.rank(), c.size()};
  Ckpt ckpt{c, {.directory = dir, .log = nullptr}};
  s.protect(ckpt);
  for (std::uint64_t v = 1; v <= versions; ++v) {
    s.set(v);
    ckpt.checkpoint();  // incremental: version 2 is a delta on version 1
  }
}

struct restored {
  std::optional<std::uint64_t> version;
  checkpoint_stats stats;
  std::uint64_t wrong = 0;
  std::uint64_t share = 0;
  std::string log;  // rank 0: the warnings
};
template <class Ckpt>
restored restore_on(comm::mpi const& c, std::filesystem::path const& dir, std::uint64_t memory_limit = 0,
                    std::optional<block> mine = std::nullopt) {
  rank_state s{mine.value_or(block_of(c.rank(), c.size()))};
  s.set(99);
  std::ostringstream log;
  Ckpt ckpt{c, {.directory = dir, .memory_limit_bytes = memory_limit, .log = &log}};
  s.protect(ckpt);
  restored out;
  out.version = ckpt.restore_latest();
  out.stats = ckpt.last_stats();
  out.wrong = out.version ? s.wrong(*out.version) : 1;
  out.share = s.share_bytes();
  out.log = log.str();
  return out;
}

checkpoint::manifest record(std::filesystem::path const& dir, std::uint64_t v) {
  std::ifstream f(test::manifest_path(dir, v));
  std::stringstream text;
  text << f.rdbuf();
  return checkpoint::manifest::parse(text.str(), test::manifest_path(dir, v).string());
}

/// What new rank `mine` may read beyond its share of version v (written by `n` ranks, blocks of
/// `block_bytes`): every old shard's index; for each old shard it reads from, a block on each side
/// of its range and the block hashes of the regions it reads; for a delta, the indexes and lists of
/// stored blocks of the versions it depends on.
std::uint64_t allowance(std::filesystem::path const& dir, std::uint64_t v, int n, block mine, std::uint64_t block_bytes) {
  auto const m = record(dir, v);
  std::uint64_t total = 0;
  for (auto const& sh : m.shards) total += sh.index_bytes;
  bool replicated_read = false;
  for (int o = 0; o < n; ++o) {
    auto const ob = block_of(o, n);
    if (!ob.overlaps(mine)) continue;
    auto const hashes = ((ob.count + 2 * halo) * sizeof(double) + block_bytes - 1) / block_bytes * 8;
    total += 2 * block_bytes + hashes;
    if (!replicated_read) total += 8 + 8, replicated_read = true;  // the step's hash (it is one block), from the first source
    for (auto d : m.depends_on) total += record(dir, d).shards[static_cast<std::size_t>(o)].index_bytes + hashes + 8;
  }
  return total;
}

/// Shard bytes of version v and the versions it depends on: of every old rank (what reading every
/// old shard whole reads), and of the old ranks whose blocks overlap `mine`.
std::pair<std::uint64_t, std::uint64_t> shard_bytes(std::filesystem::path const& dir, std::uint64_t v, int n, block mine) {
  auto versions = record(dir, v).depends_on;
  versions.push_back(v);
  std::uint64_t all = 0, overlapping = 0;
  for (auto d : versions) {
    auto const m = record(dir, d);
    for (int o = 0; o < n; ++o) {
      all += m.shards[static_cast<std::size_t>(o)].bytes;
      if (block_of(o, n).overlaps(mine)) overlapping += m.shards[static_cast<std::size_t>(o)].bytes;
    }
  }
  return {all, overlapping};
}

/// The file and offset of byte `byte` of region `name` of old rank `o` in version `v` (of `n` ranks):
/// found through the shards' indexes, in the newest version of the chain that stores it.
template <class Snapshot>
std::pair<std::filesystem::path, std::uint64_t> where_is(std::filesystem::path const& dir, std::uint64_t v, int o, int n,
                                                         std::string const& name, std::uint64_t byte) {
  auto versions = record(dir, v).depends_on;
  versions.push_back(v);
  std::vector<std::vector<std::byte>> files;
  std::vector<snapshot::shard_index> chain;
  Snapshot s{};
  for (auto d : versions) {
    std::ifstream f(test::shard_path(dir, d, o), std::ios::binary);
    std::vector<char> raw((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    files.emplace_back(reinterpret_cast<std::byte const*>(raw.data()), reinterpret_cast<std::byte const*>(raw.data()) + raw.size());
    chain.push_back(s.read_index(files.back(), {d, static_cast<std::uint32_t>(o), static_cast<std::uint32_t>(n)}, "test"));
  }
  snapshot::region_blocks rb{chain, name};
  for (auto k : rb.links_with_lists()) {
    auto const& sec = rb.link(k)->stored_list;
    rb.set_list(k, snapshot::section_values(std::span<const std::byte>(files[k]).subspan(sec.offset, sec.bytes), sec, "test"));
  }
  auto const [link, at] = rb.locate(byte / rb.block_bytes());
  return {test::shard_path(dir, versions[link], o), at + byte % rb.block_bytes()};
}

/// (N, M) pairs this world size can run: shrinking, growing, uneven splits.
std::vector<std::pair<int, int>> rank_counts(int world) {
  if (world >= 4) return {{4, 2}, {2, 4}, {3, 2}, {3, 4}, {4, 3}};
  if (world >= 2) return {{2, 1}, {1, 2}};
  return {};
}

/// Writes `versions` versions with `n` ranks of `world` into `dir`.
template <class Ckpt>
void write_with(comm::mpi const& world, int n, std::filesystem::path const& dir, std::uint64_t versions) {
  {
    auto part = world.split(world.rank() < n ? 0 : 1, world.rank());
    if (world.rank() < n) write_versions<Ckpt>(part, dir, versions);
  }
  world.barrier();
}

/// Runs `f(part)` on the first `m` ranks of `world`.
template <class F>
void on_first(comm::mpi const& world, int m, F&& f) {
  {
    auto part = world.split(world.rank() < m ? 0 : 1, world.rank());
    if (world.rank() < m) f(part);
  }
  world.barrier();
}

using full_ckpt = checkpointer<comm::mpi>;
using incr_ckpt = checkpointer<comm::mpi, snapshot::incremental<4096>>;
template <class C>
constexpr std::uint64_t block_bytes_of = 64 * 1024;
template <>
constexpr std::uint64_t block_bytes_of<incr_ckpt> = 4096;
}  // namespace

TEMPLATE_TEST_CASE("N→M restore: each rank reads and holds about its share", "[mpi][checkpoint][resize]", full_ckpt,
                   incr_ckpt) {
  comm::mpi world{MPI_COMM_WORLD};
  for (auto const& [n, m] : rank_counts(world.size())) {
    test::scratch_dir dir{world, "resize-reads"};
    write_with<TestType>(world, n, dir, 2);
    on_first(world, m, [&, n = n, m = m](comm::mpi const& part) {
      auto const r = restore_on<TestType>(part, dir);
      auto const mine = block_of(part.rank(), m);
      auto const allow = allowance(dir, 2, n, mine, block_bytes_of<TestType>);
      auto const [all, overlapping] = shard_bytes(dir, 2, n, mine);
      std::printf("N→M %d→%d (%s) rank %d: share %llu, read %llu, held %llu, allowance %llu; old shards (whole chain) %llu, overlapping %llu\n",
                  n, m, TestType::snapshot_type::name.data(), part.rank(), static_cast<unsigned long long>(r.share),
                  static_cast<unsigned long long>(r.stats.read_bytes), static_cast<unsigned long long>(r.stats.held_bytes),
                  static_cast<unsigned long long>(allow), static_cast<unsigned long long>(all),
                  static_cast<unsigned long long>(overlapping));
      INFO(n << " → " << m << ", new rank " << part.rank());
      REQUIRE(r.version == 2);
      CHECK(r.wrong == 0);
      CHECK(r.stats.read_bytes >= r.share);
      CHECK(r.stats.read_bytes <= r.share + allow);
      CHECK(r.stats.held_bytes >= r.share);
      CHECK(r.stats.held_bytes <= r.share + allow);
      // memory_limit_bytes bounds what the rank holds: its peak is enough, a byte less is refused on every rank
      CHECK(restore_on<TestType>(part, dir, r.stats.held_bytes).version == 2);
      auto const limit = part.rank() == 0 ? r.stats.held_bytes - 1 : r.stats.held_bytes;  // rank 0: one byte short
      REQUIRE_THROWS_WITH(restore_on<TestType>(part, dir, limit),
                          Catch::Contains("rank 0: version 2 restored on " + std::to_string(m) + " ranks") &&
                              Catch::Contains("over its memory limit of"));
    });
  }
}

#ifdef STRATA_HAVE_ZSTD
TEST_CASE("N→M restore of compressed shards reads only the old shards that overlap (whole)", "[mpi][checkpoint][resize]") {
  using ckpt_t = checkpointer<comm::mpi, snapshot::compressed<snapshot::full>>;
  comm::mpi world{MPI_COMM_WORLD};
  for (auto const& [n, m] : rank_counts(world.size())) {
    test::scratch_dir dir{world, "resize-reads-zstd"};
    write_with<ckpt_t>(world, n, dir, 1);
    on_first(world, m, [&, n = n, m = m](comm::mpi const& part) {
      auto const r = restore_on<ckpt_t>(part, dir);
      auto const mine = block_of(part.rank(), m);
      auto const [all, overlapping] = shard_bytes(dir, 1, n, mine);
      std::uint64_t indexes = 0;
      for (auto const& sh : record(dir, 1).shards) indexes += sh.index_bytes;
      INFO(n << " → " << m << ", new rank " << part.rank());
      REQUIRE(r.version == 1);
      CHECK(r.wrong == 0);
      CHECK(r.stats.read_bytes == indexes + overlapping);
      std::printf("N→M %d→%d (compressed+full) rank %d: share %llu, read %llu of %llu old shard bytes\n", n, m, part.rank(),
                  static_cast<unsigned long long>(r.share), static_cast<unsigned long long>(r.stats.read_bytes),
                  static_cast<unsigned long long>(all));
    });
  }
}
#endif

namespace {
/// Damage tests: N = 4 → M = 2 (np4), N = 1 → M = 2 (np2).
std::pair<int, int> damage_counts(int world) { return world >= 4 ? std::pair{4, 2} : std::pair{1, 2}; }
}  // namespace

TEMPLATE_TEST_CASE("N→M restore: a damaged block a rank reads is caught, and every rank falls back together",
                   "[mpi][checkpoint][resize]", full_ckpt, incr_ckpt) {
  comm::mpi world{MPI_COMM_WORLD};
  if (world.size() == 1) return;
  auto const [n, m] = damage_counts(world.size());
  test::scratch_dir dir{world, "resize-damage"};
  write_with<TestType>(world, n, dir, 2);
  // An element in the middle of the last new rank's block: only that rank reads it.
  auto const reader = m - 1;
  auto const g = block_of(reader, m).first + block_of(reader, m).count / 2;
  auto const o = owner_of(g, n);
  auto const [file, at] = where_is<typename TestType::snapshot_type>(
      dir, 2, o, n, "field", (halo + g - block_of(o, n).first) * sizeof(double));
  if (world.rank() == 0) test::flip_bit(file, static_cast<long long>(at), 2);
  world.barrier();
  on_first(world, m, [&](comm::mpi const& part) {
    auto const r = restore_on<TestType>(part, dir);
    CHECK(r.version == 1);  // the same older version on every rank
    CHECK(r.wrong == 0);
    if (part.rank() == 0) {
      INFO(r.log);
      // Named by the rank that read it, not by rank 0 (which does not read that block: its own check passed).
      CHECK_THAT(r.log, Catch::Contains("version 2 is not usable (rank " + std::to_string(reader) + ": ") &&
                            Catch::Contains(file.filename().string()) && Catch::Contains("does not match its hash"));
    }
  });
}

TEMPLATE_TEST_CASE("N→M restore: damage in bytes no rank reads does not stop the restore", "[mpi][checkpoint][resize]",
                   full_ckpt, incr_ckpt) {
  comm::mpi world{MPI_COMM_WORLD};
  if (world.size() == 1) return;
  auto const [n, m] = damage_counts(world.size());
  test::scratch_dir dir{world, "resize-halo"};
  write_with<TestType>(world, n, dir, 2);
  // Old rank 0's leading halo: saved, never redistributed (incremental: stored in version 1, unchanged since).
  auto const [file, at] = where_is<typename TestType::snapshot_type>(dir, 2, 0, n, "field", 100);
  if (world.rank() == 0) test::flip_bit(file, static_cast<long long>(at), 4);
  world.barrier();
  on_first(world, m, [&](comm::mpi const& part) {
    auto const r = restore_on<TestType>(part, dir);
    CHECK(r.version == 2);
    CHECK(r.wrong == 0);
  });
}

TEMPLATE_TEST_CASE("N→M restore: a damaged index is caught by every rank", "[mpi][checkpoint][resize]", full_ckpt,
                   incr_ckpt) {
  comm::mpi world{MPI_COMM_WORLD};
  if (world.size() == 1) return;
  auto const [n, m] = damage_counts(world.size());
  test::scratch_dir dir{world, "resize-index"};
  write_with<TestType>(world, n, dir, 2);
  auto const last = n - 1;
  if (world.rank() == 0) test::flip_bit(test::shard_path(dir, 2, last), 40, 1);  // inside the index
  world.barrier();
  on_first(world, m, [&](comm::mpi const& part) {
    auto const r = restore_on<TestType>(part, dir);
    CHECK(r.version == 1);
    CHECK(r.wrong == 0);
    if (part.rank() == 0)
      CHECK_THAT(r.log, Catch::Contains("version 2 is not usable (rank 0: ") && Catch::Contains("its index") &&
                            Catch::Contains(test::shard_path(dir, 2, last).filename().string()));
  });
}

TEMPLATE_TEST_CASE("N→M restore of a checkpoint whose records keep no index reads the old shards whole",
                   "[mpi][checkpoint][resize]", full_ckpt, incr_ckpt) {
  comm::mpi world{MPI_COMM_WORLD};
  if (world.size() == 1) return;
  auto const [n, m] = damage_counts(world.size());
  test::scratch_dir dir{world, "resize-noindex"};
  write_with<TestType>(world, n, dir, 2);
  if (world.rank() == 0)
    for (std::uint64_t v : {1, 2}) {  // as a checkpoint written before indexes records them
      auto rec = record(dir, v);
      for (auto& sh : rec.shards) sh.index_bytes = sh.index_xxh3 = 0;
      std::ofstream(test::manifest_path(dir, v), std::ios::trunc) << rec.to_text();
    }
  world.barrier();
  on_first(world, m, [&](comm::mpi const& part) {
    auto const r = restore_on<TestType>(part, dir);
    CHECK(r.version == 2);
    CHECK(r.wrong == 0);
    auto const [all, overlapping] = shard_bytes(dir, 2, n, block_of(part.rank(), m));
    CHECK(r.stats.read_bytes >= all);  // every old shard, to learn its layout
  });
}

TEMPLATE_TEST_CASE("the same rank count with blocks moved reads only the overlaps too", "[mpi][checkpoint][resize]",
                   full_ckpt, incr_ckpt) {
  comm::mpi world{MPI_COMM_WORLD};
  if (world.size() == 1) return;
  int const n = world.size();
  test::scratch_dir dir{world, "resize-moved"};
  write_with<TestType>(world, n, dir, 2);
  // The blocks in reverse: rank r now holds what rank n - 1 - r's share would be, at the other end.
  auto const mirrored = block_of(n - 1 - world.rank(), n);
  block const moved{global_size - mirrored.first - mirrored.count, mirrored.count};
  auto const r = restore_on<TestType>(world, dir, 0, moved);
  REQUIRE(r.version == 2);
  CHECK(r.wrong == 0);
  CHECK(r.stats.read_bytes <= r.share + allowance(dir, 2, n, moved, block_bytes_of<TestType>) +
                                   record(dir, 2).shards[static_cast<std::size_t>(world.rank())].index_bytes);
}
