#include <catch2/catch.hpp>
#include <strata/replay/wal.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

using namespace strata::replay;
namespace fs = std::filesystem;

namespace {
struct tmp_dir {
  fs::path path;
  explicit tmp_dir(std::string const& name)
      : path(fs::temp_directory_path() / ("strata_wal_" + name + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~tmp_dir() { fs::remove_all(path); }
};
std::vector<std::byte> bytes_of(std::string const& s) {
  auto b = std::as_bytes(std::span(s.data(), s.size()));
  return {b.begin(), b.end()};
}
std::string str(std::vector<std::byte> const& b) { return {reinterpret_cast<char const*>(b.data()), b.size()}; }
wal_options quiet(std::vector<std::string>* logs = nullptr) {
  return {.log = [logs](std::string_view m) {
    if (logs) logs->emplace_back(m);
  }};
}
}  // namespace

TEST_CASE("wal appends {term, index, data} and reads them back after reopening", "[replay][wal]") {
  tmp_dir d{"basic"};
  auto const file = d.path / "log";
  {
    wal w{file, quiet()};
    CHECK(w.open_report().created);
    CHECK(w.append(1, bytes_of("a")) == 1);
    CHECK(w.append(1, bytes_of("bb")) == 2);
    CHECK(w.append(2, {}) == 3);
  }
  wal w{file, quiet()};
  CHECK_FALSE(w.open_report().created);
  CHECK(w.open_report().truncated_bytes == 0);
  CHECK(w.last_index() == 3);
  CHECK(w.last_term() == 2);
  auto const e = w.entries();
  REQUIRE(e.size() == 3);
  CHECK(e[0] == wal_entry{1, 1, bytes_of("a")});
  CHECK(e[1] == wal_entry{1, 2, bytes_of("bb")});
  CHECK(e[2] == wal_entry{2, 3, {}});
  CHECK(w.append(3, bytes_of("c")) == 4);
}

TEST_CASE("wal truncates a torn tail on open, with a clear log line", "[replay][wal]") {
  tmp_dir d{"torn"};
  auto const file = d.path / "log";
  std::uintmax_t full = 0;
  {
    wal w{file, quiet()};
    for (int i = 0; i < 5; ++i) w.append(1, bytes_of("record " + std::to_string(i)));
    full = fs::file_size(file);
  }
  for (std::uintmax_t cut : {std::uintmax_t{1}, std::uintmax_t{10}, std::uintmax_t{33}}) {
    fs::resize_file(file, full - cut);
    std::vector<std::string> logs;
    wal w{file, quiet(&logs)};
    CHECK(w.last_index() == 4);
    REQUIRE(logs.size() == 1);
    CHECK_THAT(logs[0], Catch::Contains("incomplete record") && Catch::Contains("truncated") &&
                            Catch::Contains("now ends at index 4"));
    CHECK(w.entries().size() == 4);
    CHECK(w.append(1, bytes_of("record 4")) == 5);  // appends continue cleanly after the cut
    full = fs::file_size(file);
  }
  wal w{file, quiet()};
  CHECK(w.entries().size() == 5);
}

TEST_CASE("wal drops a bit-flipped record and what follows, never returns corrupt data", "[replay][wal]") {
  tmp_dir d{"flip"};
  auto const file = d.path / "log";
  {
    wal w{file, quiet()};
    for (int i = 0; i < 6; ++i) w.append(1, bytes_of("payload-" + std::to_string(i)));
  }
  // flip one bit inside the data of record 4 (index 4): header 32 + 3 records of 32 + 9 bytes
  auto const offset = wal::header_bytes + 3 * (wal::record_header_bytes + 9) + wal::record_header_bytes + 2;
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset));
    char c;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(offset));
    f.put(static_cast<char>(c ^ 0x10));
  }
  std::vector<std::string> logs;
  wal w{file, quiet(&logs)};
  REQUIRE(logs.size() == 1);
  CHECK_THAT(logs[0], Catch::Contains("checksum mismatch"));
  auto const e = w.entries();
  REQUIRE(e.size() == 3);
  CHECK(str(e[2].data) == "payload-2");
}

TEST_CASE("wal refuses oversize records and rejects absurd lengths on disk", "[replay][wal]") {
  tmp_dir d{"oversize"};
  auto const file = d.path / "log";
  wal_options o = quiet();
  o.max_record_bytes = 8;
  {
    wal w{file, o};
    CHECK_THROWS_WITH(w.append(1, std::vector<std::byte>(9)), Catch::Contains("exceeds max_record_bytes 8"));
    w.append(1, std::vector<std::byte>(8));
    w.append(1, std::vector<std::byte>(8));
  }
  // corrupt the second record's length field to a huge value
  {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(wal::header_bytes + wal::record_header_bytes + 8 + 4));
    std::uint32_t huge = 0x7fffffff;
    f.write(reinterpret_cast<char const*>(&huge), 4);
  }
  std::vector<std::string> logs;
  o.log = [&](std::string_view m) { logs.emplace_back(m); };
  wal w{file, o};
  CHECK(w.last_index() == 1);
  REQUIRE(logs.size() == 1);
  CHECK_THAT(logs[0], Catch::Contains("exceeds max_record_bytes"));
}

TEST_CASE("wal replay is idempotent, even when interrupted and redone (R9)", "[replay][wal]") {
  tmp_dir d{"replay"};
  wal w{d.path / "log", quiet()};
  for (int i = 1; i <= 10; ++i) w.append(1, bytes_of(std::to_string(i)));
  // the application's state keeps the index it applied up to, together with what it applied
  struct state {
    std::map<std::uint64_t, int> applied;  // index -> times applied
    long sum = 0;
    std::uint64_t last = 0;
  } s;
  auto apply = [&](wal_entry const& e) {
    if (e.index == 6 && s.applied.count(6) == 0 && s.sum < 1000) {
      s.sum += 1000;  // mark: interrupt once
      throw std::runtime_error("interrupted");
    }
    ++s.applied[e.index];
    s.sum += std::stol(str(e.data));
    s.last = e.index;
  };
  CHECK_THROWS(w.replay(s.last, apply));
  CHECK(s.last == 5);
  s.last = w.replay(s.last, apply);  // redo from the kept index
  CHECK(s.last == 10);
  s.last = w.replay(s.last, apply);  // and again: nothing applied twice
  CHECK(s.sum == 1000 + 55);
  for (auto const& [i, k] : s.applied) CHECK(k == 1);
  CHECK(s.applied.size() == 10);
}

TEST_CASE("wal reset starts an empty log after a checkpoint, keeping the index sequence", "[replay][wal]") {
  tmp_dir d{"reset"};
  auto const file = d.path / "log";
  {
    wal w{file, {.fsync = fsync_policy::every_n, .fsync_every = 4, .log = {}}};
    for (int i = 0; i < 7; ++i) w.append(1, bytes_of("x"));
    w.reset(7);
    CHECK(w.size() == 0);
    CHECK(w.append(2, bytes_of("y")) == 8);
  }
  wal w{file, quiet()};
  CHECK(w.base_index() == 7);
  auto const e = w.entries();
  REQUIRE(e.size() == 1);
  CHECK(e[0].index == 8);
  CHECK(w.replay(0, [](wal_entry const&) {}) == 8);
}

TEST_CASE("wal with a damaged header is moved aside, not reused", "[replay][wal]") {
  tmp_dir d{"header"};
  auto const file = d.path / "log";
  {
    std::ofstream f(file, std::ios::binary);
    f << "this is not a write-ahead log at all, just some text";
  }
  std::vector<std::string> logs;
  wal w{file, quiet(&logs)};
  REQUIRE(logs.size() == 1);
  CHECK_THAT(logs[0], Catch::Contains("header missing or damaged") && Catch::Contains(".corrupt"));
  CHECK(fs::exists(file.string() + ".corrupt"));
  CHECK(w.append(1, {}) == 1);
}

TEST_CASE("wal truncate_through drops the records a checkpoint includes and keeps the later ones", "[replay][wal]") {
  tmp_dir d{"truncate_through"};
  auto const p = d.path / "log.wal";
  {
    wal w{p};
    for (int i = 1; i <= 5; ++i) w.append(1, bytes_of("e" + std::to_string(i)));
    w.truncate_through(3);
    CHECK(w.base_index() == 3);
    CHECK(w.size() == 2);
    CHECK(w.append(2, bytes_of("e6")) == 6);
    w.truncate_through(2);  // not above the base: nothing happens
    CHECK(w.base_index() == 3);
    CHECK_THROWS_AS(w.truncate_through(7), strata::usage_error);  // past the end
  }
  wal w{p};  // what the truncation left is what a reopen reads
  auto const e = w.entries();
  REQUIRE(e.size() == 3);
  CHECK(e[0].index == 4);
  CHECK(e[0].data == bytes_of("e4"));
  CHECK(e[2].index == 6);
  CHECK(e[2].term == 2);
  w.truncate_through(6);
  CHECK(w.size() == 0);
  CHECK(w.file_bytes() == wal::header_bytes);
  CHECK(w.append(3, bytes_of("e7")) == 7);
}

TEST_CASE("wal refuse_sequence_break: a repeated index with a valid checksum is an error, not a cut", "[replay][wal]") {
  tmp_dir d{"sequence_break"};
  auto const p = d.path / "log.wal";
  {
    wal w{p};
    for (int i = 1; i <= 3; ++i) w.append(1, bytes_of("abcd"));
  }
  std::string bytes;
  {
    std::ifstream in{p, std::ios::binary};
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::ofstream{p, std::ios::binary | std::ios::app} << bytes.substr(bytes.size() - (wal::record_header_bytes + 4));
  REQUIRE_THROWS_WITH((wal{p, {.refuse_sequence_break = true}}),
                      Catch::Contains("index 3 where 4 was expected") && Catch::Contains("a repeated index") &&
                          Catch::Contains(p.string()));
  wal w{p, {.log = [](std::string_view) {}}};  // by default the break ends the log like damage
  CHECK(w.last_index() == 3);
}
