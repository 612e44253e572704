#include <catch2/catch.hpp>
#include <strata/comm/solo.hpp>
#include <strata/storage/posix_dir.hpp>
#include <support/files.hpp>

#include <fstream>

using namespace strata;
namespace fs = std::filesystem;

namespace {
snapshot::encoded_shard shard_of(std::vector<std::byte> const& bytes) {
  snapshot::encoded_shard s;
  s.segments.emplace_back(bytes);
  return s;
}
}  // namespace

TEST_CASE("posix_dir writes shards and commit records atomically and lists them", "[storage]") {
  STATIC_REQUIRE(storage::driver<storage::posix_dir, comm::solo>);
  test::scratch_dir dir{comm::solo{}, "posix"};
  storage::posix_dir st;
  st.attach(comm::solo{}, dir);
  std::vector<std::byte> a(1000, std::byte{7}), b(10, std::byte{9});
  st.write_shard(1, shard_of(a));
  st.write_commit(1, "{}");
  st.write_shard(2, shard_of(b));  // no commit record: not committed
  CHECK(st.read_shard(1, 0) == a);
  CHECK(st.read_commit(1) == std::optional<std::string>("{}"));
  CHECK_FALSE(st.read_commit(2));
  auto l = st.list();
  CHECK(l.committed == std::vector<std::uint64_t>{1});
  CHECK(l.all == std::vector<std::uint64_t>{1, 2});
  CHECK(l.foreign.empty());
  // overwrite keeps no temp file behind
  st.write_shard(1, shard_of(b));
  CHECK(st.read_shard(1, 0) == b);
  CHECK_FALSE(fs::exists(fs::path(st.shard_location(1, 0) + ".tmp")));
  REQUIRE_THROWS_WITH(st.read_shard(7, 0), Catch::Contains("missing") && Catch::Contains("v00000007/r00000.shard"));
  st.remove_shard(1, 0);
  st.remove_commit(1);
  st.remove_version(1);
  CHECK_FALSE(fs::exists(dir.path() / "v00000001"));
}
