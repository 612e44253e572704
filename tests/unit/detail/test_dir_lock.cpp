// detail::dir_lock: one job per checkpoint directory (SPEC R12).
#include <catch2/catch.hpp>
#include <strata/comm/solo.hpp>
#include <strata/detail/dir_lock.hpp>
#include <support/files.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace strata;
using strata::detail::dir_lock;
using strata::detail::dir_lock_settings;
namespace fs = std::filesystem;

namespace {

fs::path lock_file(fs::path const& dir) { return dir / dir_lock::file_name; }

std::string slurp(fs::path const& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
void write_text(fs::path const& p, std::string const& text) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << text;
}
/// Sets the file's modification time `seconds` into the past.
void age_file(fs::path const& p, int seconds) {
  struct timespec ts[2];
  ::clock_gettime(CLOCK_REALTIME, &ts[0]);
  ts[0].tv_sec -= seconds;
  ts[1] = ts[0];
  REQUIRE(::utimensat(AT_FDCWD, p.c_str(), ts, 0) == 0);
}

/// A pid that belonged to a process which has exited (and was reaped).
long long dead_pid() {
  pid_t c = ::fork();
  if (c == 0) ::_exit(0);
  int status = 0;
  ::waitpid(c, &status, 0);
  return c;
}

/// A child that sleeps until killed.
struct sleeper {
  pid_t pid = ::fork();
  sleeper() {
    if (pid == 0) {
      for (;;) ::pause();
    }
  }
  ~sleeper() {
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
  }
  [[nodiscard]] std::uint64_t start_ticks() const {
    auto const text = slurp(fs::path("/proc") / std::to_string(pid) / "stat");
    std::istringstream in(text.substr(text.rfind(')') + 2));
    std::string tok;
    for (int field = 3; field <= 22; ++field) in >> tok;
    return std::stoull(tok);
  }
};

/// A lock file as another job would have written it.
dir_lock::holder other_job(long long pid, std::uint64_t start_ticks) {
  auto h = dir_lock::holder::of_this_process("rank 0");
  h.pid = pid;
  h.start_ticks = start_ticks;
  h.program = "other_job";
  h.token = "0123456789abcdef";
  return h;
}

/// Runs `f` in a forked child and returns what it wrote to the pipe (the child's view of the world).
template <class F>
std::string in_child(F f) {
  int p[2];
  REQUIRE(::pipe(p) == 0);
  pid_t c = ::fork();
  if (c == 0) {
    ::close(p[0]);
    std::string out;
    try {
      out = f();
    } catch (std::exception const& e) {
      out = std::string("threw: ") + e.what();
    }
    (void)!::write(p[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(p[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  ::close(p[0]);
  int status = 0;
  ::waitpid(c, &status, 0);
  return out;
}

struct race_result {
  int won = 0, lost = 0, other = 0;
  std::string others;
};

/// `n` processes call acquire on `dir` at the same instant; the winner holds on until all have answered.
race_result race(fs::path const& dir, int n, dir_lock_settings const& s) {
  int start[2], result[2], hold[2], why[2];
  REQUIRE(::pipe(start) == 0);
  REQUIRE(::pipe(result) == 0);
  REQUIRE(::pipe(hold) == 0);
  REQUIRE(::pipe(why) == 0);
  std::vector<pid_t> kids;
  for (int i = 0; i < n; ++i) {
    pid_t c = ::fork();
    if (c == 0) {
      ::close(start[1]);
      ::close(result[0]);
      ::close(hold[1]);
      ::close(why[0]);
      char go = 0;
      (void)!::read(start[0], &go, 1);  // EOF: everyone starts now
      char r = 'E';
      std::string msg;
      try {
        auto mine = s;
        mine.takeover_pause *= i % 3 + 1;  // staggered: some take over while others still hold their verdict
        auto l = dir_lock::acquire(dir, "racer " + std::to_string(i), mine);
        r = 'W';
        (void)!::write(result[1], &r, 1);
        (void)!::read(hold[0], &go, 1);  // hold the lock until the parent has every answer
        l.release();
        ::_exit(0);
      } catch (usage_error const& e) {
        msg = e.what();
        r = msg.find("is in use by another job") != std::string::npos ? 'L' : 'E';
      } catch (std::exception const& e) {
        msg = e.what();
      }
      if (r == 'E') (void)!::write(why[1], (msg + "\n").data(), msg.size() + 1);
      (void)!::write(result[1], &r, 1);
      ::_exit(0);
    }
    kids.push_back(c);
  }
  ::close(start[0]);
  ::close(result[1]);
  ::close(hold[0]);
  ::close(why[1]);
  ::close(start[1]);  // go
  race_result out;
  for (int i = 0; i < n; ++i) {
    char r = 0;
    REQUIRE(::read(result[0], &r, 1) == 1);
    (r == 'W' ? out.won : r == 'L' ? out.lost : out.other)++;
  }
  ::close(hold[1]);
  for (auto c : kids) {
    int status = 0;
    ::waitpid(c, &status, 0);
  }
  char buf[512];
  for (ssize_t k; (k = ::read(why[0], buf, sizeof buf)) > 0;) out.others.append(buf, static_cast<std::size_t>(k));
  ::close(result[0]);
  ::close(why[0]);
  return out;
}

}  // namespace

TEST_CASE("dir_lock: a second acquire is refused, naming the holder's host and pid", "[detail][dir_lock]") {
  test::scratch_dir dir{comm::solo{}, "lock"};
  fs::create_directories(dir.path());
  auto const me = dir_lock::holder::of_this_process("x");
  auto a = dir_lock::acquire(dir, "rank 0");
  REQUIRE(a.held());
  REQUIRE(fs::exists(lock_file(dir)));
  auto const text = slurp(lock_file(dir));
  CHECK_THAT(text, Catch::Contains("host=" + me.host) && Catch::Contains("pid=" + std::to_string(::getpid())) &&
                       Catch::Contains("token=" + a.token()) && Catch::Contains("who=rank 0") &&
                       Catch::Contains("pid_start_ticks=") && Catch::Contains("started=20"));
  auto const h = dir_lock::holder::parse(text);
  REQUIRE(h);
  CHECK(h->start_ticks != 0);
  CHECK(h->start_ticks == me.start_ticks);

  // Another process: refused with one sentence naming directory, host, pid, start time and the remedy.
  auto const msg = in_child([&] {
    auto b = dir_lock::acquire(dir, "rank 0");
    return std::string("acquired");
  });
  CHECK_THAT(msg, Catch::Contains("threw: checkpoint directory " + dir.path().string() + " is in use by another job") &&
                      Catch::Contains("pid " + std::to_string(::getpid())) && Catch::Contains("on host " + me.host) &&
                      Catch::Contains("started " + h->started) &&
                      Catch::Contains("if that job is no longer running, remove " + lock_file(dir).string()));
  CHECK(dir_lock::holder::parse(slurp(lock_file(dir)))->token == a.token());  // the refusal changed nothing
  CHECK_THAT(*dir_lock::describe(dir), Catch::StartsWith("in use by rank 0"));
  // This process again, not sharing (the default shares: see below): refused as well.
  REQUIRE_THROWS_WITH(dir_lock::acquire(dir, "rank 0", {.share_within_process = false}),
                      Catch::Contains("is in use by this very process") && Catch::Contains(me.host) &&
                          Catch::Contains("pid " + std::to_string(::getpid())));
  CHECK(dir_lock::holder::parse(slurp(lock_file(dir)))->token == a.token());
}

TEST_CASE("dir_lock: the same process shares its lock; the file goes with the last handle", "[detail][dir_lock]") {
  test::scratch_dir dir{comm::solo{}, "lock"};
  fs::create_directories(dir.path());
  auto a = dir_lock::acquire(dir, "rank 0");
  auto b = dir_lock::acquire(dir.path() / "." / "", "rank 0");  // the same directory, spelled otherwise
  REQUIRE(b.held());
  CHECK(b.token() == a.token());
  a.release();
  CHECK(fs::exists(lock_file(dir)));  // b still holds it
  auto c = std::move(b);
  CHECK(fs::exists(lock_file(dir)));
  c.release();
  CHECK_FALSE(fs::exists(lock_file(dir)));
  // Removed by hand and taken by another job meanwhile: this process does not share that one.
  auto d = dir_lock::acquire(dir, "rank 0");
  sleeper alive;
  auto const theirs = other_job(alive.pid, alive.start_ticks()).to_text();
  write_text(lock_file(dir), theirs);
  REQUIRE_THROWS_WITH(dir_lock::acquire(dir, "rank 0"), Catch::Contains("is in use by another job"));
  d.release();
  CHECK(slurp(lock_file(dir)) == theirs);
  // A forked child does not share its parent's lock either.
  fs::remove(lock_file(dir));
  auto e = dir_lock::acquire(dir, "rank 0");
  auto const msg = in_child([&] {
    auto f = dir_lock::acquire(dir, "rank 0");
    return std::string("acquired");
  });
  CHECK_THAT(msg, Catch::Contains("is in use by another job") && Catch::Contains("pid " + std::to_string(::getpid())));
}

TEST_CASE("dir_lock: release, destruction and moves", "[detail][dir_lock]") {
  test::scratch_dir dir{comm::solo{}, "lock"};
  fs::create_directories(dir.path());
  CHECK_FALSE(dir_lock::describe(dir));
  {
    auto a = dir_lock::acquire(dir, "rank 0");
    a.release();
    CHECK_FALSE(a.held());
    CHECK_FALSE(fs::exists(lock_file(dir)));
    a.release();  // idempotent
    auto b = dir_lock::acquire(dir, "rank 0");
    CHECK_FALSE(b.took_over());
    dir_lock c = std::move(b);
    CHECK_FALSE(b.held());
    REQUIRE(c.held());
    b = std::move(c);  // a moved-from lock releases nothing
    CHECK(b.held());
    CHECK(fs::exists(lock_file(dir)));
  }
  CHECK_FALSE(fs::exists(lock_file(dir)));  // the destructor released it
  auto d = dir_lock::acquire(dir, "rank 0");
  d = dir_lock{};  // assigning releases the old one
  CHECK_FALSE(fs::exists(lock_file(dir)));
}

TEST_CASE("dir_lock: a stale lock of a process that exited is taken over", "[detail][dir_lock]") {
  test::scratch_dir dir{comm::solo{}, "lock"};
  fs::create_directories(dir.path());
  auto const pid = dead_pid();
  write_text(lock_file(dir), other_job(pid, 12345).to_text());
  CHECK_THAT(*dir_lock::describe(dir), Catch::StartsWith("stale lock of") && Catch::Contains("has exited"));
  auto a = dir_lock::acquire(dir, "rank 0");
  REQUIRE(a.took_over());
  CHECK_THAT(*a.took_over(), Catch::Contains("pid " + std::to_string(pid)) && Catch::Contains("has exited"));
  CHECK(dir_lock::holder::parse(slurp(lock_file(dir)))->token == a.token());
  CHECK(fs::directory_iterator(dir.path()) != fs::directory_iterator());
  std::size_t entries = 0;
  for ([[maybe_unused]] auto const& e : fs::directory_iterator(dir.path())) ++entries;
  CHECK(entries == 1);  // nothing left behind but our lock

  // A zombie (exited, not yet reaped) is dead too.
  a.release();
  pid_t z = ::fork();
  if (z == 0) ::_exit(0);
  ::usleep(100'000);
  write_text(lock_file(dir), other_job(z, 12345).to_text());
  CHECK_NOTHROW(dir_lock::acquire(dir, "rank 0"));
  int status = 0;
  ::waitpid(z, &status, 0);
}

TEST_CASE("dir_lock: a recycled pid (alive, another start time) is stale; the right start time is not", "[detail][dir_lock]") {
  test::scratch_dir dir{comm::solo{}, "lock"};
  fs::create_directories(dir.path());
  sleeper alive;
  auto const ticks = alive.start_ticks();
  REQUIRE(ticks != 0);
  write_text(lock_file(dir), other_job(alive.pid, ticks).to_text());
  REQUIRE_THROWS_WITH(dir_lock::acquire(dir, "rank 0"),
                      Catch::Contains("is in use by another job") && Catch::Contains("pid " + std::to_string(alive.pid)) &&
                          Catch::Contains("of other_job"));
  write_text(lock_file(dir), other_job(alive.pid, ticks + 1).to_text());
  auto a = dir_lock::acquire(dir, "rank 0");
  REQUIRE(a.took_over());
  CHECK_THAT(*a.took_over(), Catch::Contains("now belongs to another process"));
  a.release();
  // Same pid and start time, but written before the last reboot (another boot id): stale.
  auto h = other_job(alive.pid, ticks);
  h.boot_id = "00000000-0000-0000-0000-000000000000";
  write_text(lock_file(dir), h.to_text());
  a = dir_lock::acquire(dir, "rank 0");
  REQUIRE(a.took_over());
  CHECK_THAT(*a.took_over(), Catch::Contains("rebooted"));
}

TEST_CASE("dir_lock: a lock held on another host is judged by its lease", "[detail][dir_lock]") {
  using namespace std::chrono_literals;
  test::scratch_dir dir{comm::solo{}, "lock"};
  fs::create_directories(dir.path());
  auto h = other_job(dead_pid(), 1);  // dead here, but that says nothing about the other host
  h.host = "some-other-node-17";
  auto const file = lock_file(dir);
  dir_lock_settings const s{.lease = 300ms};
  auto since = [](auto t0) { return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0); };

  SECTION("renewed while watched: refused, naming the holder") {
    write_text(file, h.to_text());
    std::atomic<bool> stop{false};
    std::thread holder([&] {  // the other host's job, alive: renews every 100 ms
      while (!stop) {
        std::this_thread::sleep_for(100ms);
        ::utimensat(AT_FDCWD, file.c_str(), nullptr, 0);
      }
    });
    auto const t0 = std::chrono::steady_clock::now();
    CHECK_THROWS_WITH(dir_lock::acquire(dir, "rank 0", s),
                      Catch::Contains("checkpoint directory " + dir.path().string() + " is in use by a job on another host") &&
                          Catch::Contains("on host some-other-node-17") && Catch::Contains("pid " + std::to_string(h.pid)) &&
                          Catch::Contains("renewed while host") && Catch::Contains("remove " + file.string()));
    CHECK(since(t0) < 300ms);  // refused at the first renewal, not after a whole lease
    stop = true;
    holder.join();
    CHECK(slurp(file) == h.to_text());
    CHECK_THAT(dir_lock::describe(dir).value_or(""), Catch::Contains("another host"));
  }
  SECTION("not renewed for a lease: taken over, after watching one lease") {
    write_text(file, h.to_text());
    auto const t0 = std::chrono::steady_clock::now();
    auto a = dir_lock::acquire(dir, "rank 0", s);
    CHECK(since(t0) >= 300ms);
    REQUIRE(a.took_over());
    CHECK_THAT(*a.took_over(), Catch::Contains("some-other-node-17") && Catch::Contains("not renewed"));
    CHECK(slurp(file) != h.to_text());
  }
  SECTION("last renewed more than two leases ago: taken over at once") {
    write_text(file, h.to_text());
    age_file(file, 5);
    auto const t0 = std::chrono::steady_clock::now();
    auto a = dir_lock::acquire(dir, "rank 0", s);
    CHECK(since(t0) < 300ms);
    REQUIRE(a.took_over());
    CHECK_THAT(*a.took_over(), Catch::Contains("last renewed 5 s ago"));
  }
  SECTION("no lease: refused, saying it cannot be checked") {
    write_text(file, h.to_text());
    age_file(file, 3600);
    CHECK_THROWS_WITH(dir_lock::acquire(dir, "rank 0", {.lease = 0ms}),
                      Catch::Contains("is in use by a job on another host") && Catch::Contains("cannot check whether it is still running"));
    CHECK(slurp(file) == h.to_text());
  }
}

TEST_CASE("dir_lock: the holder renews its lock while it holds it, and stops when it lets go", "[detail][dir_lock]") {
  using namespace std::chrono_literals;
  test::scratch_dir dir{comm::solo{}, "lock"};
  fs::create_directories(dir.path());
  auto const file = lock_file(dir);
  auto mtime = [&] {
    struct stat st{};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    return st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec;
  };
  {
    auto a = dir_lock::acquire(dir, "rank 0", {.lease = 150ms});  // renews every 50 ms
    age_file(file, 10);
    auto const old = mtime();
    std::this_thread::sleep_for(200ms);
    CHECK(mtime() > old);
  }
  CHECK_FALSE(fs::exists(file));
}

TEST_CASE("dir_lock: an empty or incomplete lock file is stale only once it is old", "[detail][dir_lock]") {
  test::scratch_dir dir{comm::solo{}, "lock"};
  fs::create_directories(dir.path());
  dir_lock_settings const quick{.incomplete_grace = std::chrono::milliseconds(10'000), .busy_wait = std::chrono::milliseconds(200)};
  for (bool flock : {true, false}) {
    auto s = quick;
    s.use_flock = flock;
    for (std::string const& text : {std::string{}, other_job(::getpid(), 1).to_text().substr(0, 40)}) {
      write_text(lock_file(dir), text);
      REQUIRE_THROWS_WITH(dir_lock::acquire(dir, "rank 0", s),
                          Catch::Contains("is being locked by another job right now") && Catch::Contains("empty or incomplete") &&
                              Catch::Contains("remove " + lock_file(dir).string()));
      age_file(lock_file(dir), 60);
      auto a = dir_lock::acquire(dir, "rank 0", s);
      REQUIRE(a.took_over());
      CHECK_THAT(*a.took_over(), Catch::Contains("empty or incomplete"));
    }
  }
  // A file that completes within the wait is judged by its content.
  sleeper alive;
  auto const finished = other_job(alive.pid, alive.start_ticks()).to_text();
  write_text(lock_file(dir), "");
  pid_t c = ::fork();
  if (c == 0) {
    ::usleep(100'000);
    write_text(lock_file(dir), finished);
    ::_exit(0);
  }
  auto s = quick;
  s.busy_wait = std::chrono::milliseconds(3000);
  REQUIRE_THROWS_WITH(dir_lock::acquire(dir, "rank 0", s), Catch::Contains("is in use by another job"));
  int status = 0;
  ::waitpid(c, &status, 0);
}

TEST_CASE("dir_lock: of several processes racing for one directory exactly one wins", "[detail][dir_lock]") {
  test::scratch_dir dir{comm::solo{}, "lock"};
  fs::create_directories(dir.path());
  int const racers = 6, rounds = 24;
  for (bool flock : {true, false}) {
    INFO((flock ? "take-over with flock" : "take-over with claim files"));
    for (int round = 0; round < rounds; ++round) {
      INFO("round " << round);
      // Every other pair of rounds, each racer pauses between judging the lock stale and taking it over, so
      // that the others judge the same stale file meanwhile (a plain "unlink and create" fails these).
      dir_lock_settings const s{.busy_wait = std::chrono::milliseconds(5000), .use_flock = flock,
                                .takeover_pause = std::chrono::milliseconds(round % 8 < 4 ? 0 : 30)};
      // Odd rounds: a stale lock of a dead process to take over (alternately a complete and an empty old one);
      // even rounds: no lock at all.
      if (round % 4 == 1) write_text(lock_file(dir), other_job(dead_pid(), 99).to_text());
      if (round % 4 == 3) {
        write_text(lock_file(dir), "");
        age_file(lock_file(dir), 60);
      }
      auto const r = race(dir, racers, s);
      CHECK(r.others == "");
      CHECK(r.won == 1);
      CHECK(r.lost == racers - 1);
      CHECK_FALSE(fs::exists(lock_file(dir)));  // the winner released it
      std::vector<std::string> left;
      for (auto const& e : fs::directory_iterator(dir.path())) left.push_back(e.path().filename().string());
      CHECK(left.empty());
    }
  }
}

TEST_CASE("dir_lock: a lock we no longer own is not removed", "[detail][dir_lock]") {
  test::scratch_dir dir{comm::solo{}, "lock"};
  fs::create_directories(dir.path());
  auto const theirs = other_job(::getpid(), 1).to_text();
  {
    auto a = dir_lock::acquire(dir, "rank 0");
    // Someone removed our lock by hand and another job took the directory.
    write_text(lock_file(dir), theirs);
  }
  CHECK(slurp(lock_file(dir)) == theirs);
  fs::remove(lock_file(dir));
  {
    auto a = dir_lock::acquire(dir, "rank 0");
    fs::remove(lock_file(dir));  // removed by hand: nothing to release, nothing thrown
  }
  // A forked child inherits the object but not the lock: its release leaves the parent's lock alone.
  auto a = dir_lock::acquire(dir, "rank 0");
  auto const ours = slurp(lock_file(dir));
  auto const said = in_child([&] {
    a.release();
    return std::string("released");
  });
  CHECK(said == "released");
  CHECK(slurp(lock_file(dir)) == ours);
}
