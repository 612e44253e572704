// detail::posix_io: durable replacement of a file, whole reads, errors that name the path and errno.
#include <catch2/catch.hpp>
#include <strata/comm/solo.hpp>
#include <strata/detail/posix_io.hpp>
#include <support/files.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>

using namespace strata;
namespace fs = std::filesystem;

namespace {
std::vector<std::byte> bytes_of(std::string const& s) {
  auto const b = std::as_bytes(std::span(s));
  return {b.begin(), b.end()};
}
}  // namespace

TEST_CASE("posix_io: write_file_durable replaces a file, leaves no temporary, reads back whole", "[detail][posix_io]") {
  test::scratch_dir dir{comm::solo{}, "posix-io"};
  fs::create_directories(dir.path());
  auto const file = dir.path() / "f.bin";
  detail::write_file_durable(file, std::span<const std::byte>(bytes_of("first")));
  detail::write_file_durable(file, std::span<const std::byte>(bytes_of("second, longer")));
  CHECK(detail::read_file(file) == bytes_of("second, longer"));
  CHECK_FALSE(fs::exists(file.string() + ".tmp"));

  std::vector<std::byte> part(6);
  detail::read_file_part(file, 8, part);
  CHECK(part == bytes_of("longer"));
  REQUIRE_THROWS_WITH(detail::read_file_part(file, 10, part), Catch::Contains(file.string()) && Catch::Contains("truncated"));
  CHECK(detail::try_read_file(file) == std::optional<std::string>("second, longer"));
  CHECK_FALSE(detail::try_read_file(dir.path() / "none"));

  int calls = 0;
  std::string const a(1000, 'a'), b(3000, 'b');
  std::span<const std::byte> const pieces[] = {std::as_bytes(std::span(a)), std::as_bytes(std::span(b))};
  detail::write_file_durable(file, pieces, detail::io_context<>{}, [&] { ++calls; });
  CHECK(calls == 1);  // halfway, once
  CHECK(detail::read_file(file).size() == 4000);
}

TEST_CASE("posix_io: failures are the caller's error class, naming the path and strerror", "[detail][posix_io]") {
  test::scratch_dir dir{comm::solo{}, "posix-io-err"};
  auto const missing = dir.path() / "no-such-dir" / "f.bin";
  REQUIRE_THROWS_WITH(detail::read_file(missing), Catch::Contains(missing.string()) && Catch::Contains("missing"));
  detail::io_context<checkpoint_error> const ctx{"rank 3", "(the last committed version is intact)"};
  try {
    detail::write_file_durable(missing, std::span<const std::byte>(bytes_of("x")), ctx);
    FAIL("no error");
  } catch (checkpoint_error const& e) {
    CHECK_THAT(e.what(), Catch::StartsWith("rank 3: ") && Catch::Contains(missing.string() + ".tmp") &&
                             Catch::Contains(std::strerror(ENOENT)) && Catch::EndsWith("(the last committed version is intact)"));
    auto const& f = dynamic_cast<detail::io_failure const&>(e);
    CHECK(f.errno_value == ENOENT);
    CHECK(f.path == fs::path(missing.string() + ".tmp"));
  }
}

TEST_CASE("posix_io: write_all and try_fsync_directory report errno", "[detail][posix_io]") {
  test::scratch_dir dir{comm::solo{}, "posix-io-fd"};
  fs::create_directories(dir.path());
  CHECK(detail::try_fsync_directory(dir.path()) == 0);
  CHECK(detail::try_fsync_directory(dir.path() / "none") == ENOENT);
  detail::unique_fd f{::open((dir.path() / "w").c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0644)};
  REQUIRE(f);
  CHECK(detail::write_all(f.get(), std::span<const std::byte>(bytes_of("x"))) == EBADF);  // opened read-only
}
