// The checkpointer's metrics (SPEC O3): values that follow checkpoints and restores, the Prometheus
// file rank 0 writes, one registry shared with a dispatcher, the progress line of a long operation.
#include <catch2/catch.hpp>
#include <strata/strata.hpp>
#include <support/files.hpp>

#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

using namespace strata;
namespace fs = std::filesystem;

namespace {
using solo_ckpt = checkpointer<comm::solo, snapshot::full, storage::posix_dir, consistency::coordinated,
                               trigger::every_n, retention::keep_last<2>>;

/// Value of every sample line (`name value`, `name{labels} value`) of a Prometheus text; fails the
/// test on a line that is neither a sample nor a `# HELP` / `# TYPE` comment.
std::map<std::string, double> parse_prometheus(std::string const& text) {
  static std::regex const sample{R"(^([a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})?) (\S+)$)"};
  static std::regex const comment{R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]*( .*)?$)"};
  std::map<std::string, double> out;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, sample)) out[m[1]] = std::stod(m[3]);
    else CHECK(std::regex_match(line, comment));
  }
  return out;
}

std::string read_text(fs::path const& p) {
  std::ifstream f{p};
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

double value(metrics::registry const& r, std::string const& name) { return parse_prometheus(r.prometheus_text()).at(name); }
}  // namespace

TEST_CASE("metrics: committed checkpoints and restores move the checkpointer's metrics", "[checkpoint][metrics]") {
  test::scratch_dir dir{comm::solo{}, "metrics_values"};
  std::vector<double> field(1000, 1.0);
  std::uint64_t step = 0;
  {
    solo_ckpt ck{comm::solo{}, {.directory = dir.path(), .trigger = {.n = 1}, .log = nullptr}};
    ck.protect("field", field);
    ck.protect("step", step);
    auto& reg = ck.metrics();
    CHECK(value(reg, "strata_ckpt_committed_total") == 0);
    for (step = 1; step <= 3; ++step) ck.step(step);
    auto const s = ck.last_stats();
    CHECK(value(reg, "strata_ckpt_committed_total") == 3);
    CHECK(value(reg, "strata_ckpt_last_bytes") == static_cast<double>(s.bytes));
    CHECK(value(reg, "strata_ckpt_bytes_written_total") == 3.0 * static_cast<double>(s.bytes));
    CHECK(value(reg, "strata_ckpt_job_bytes_written_total") == 3.0 * static_cast<double>(s.bytes));
    CHECK(value(reg, "strata_ckpt_last_version") == 3);
    CHECK(value(reg, "strata_ckpt_versions_retired_total") == 1);  // keep_last<2>
    CHECK(value(reg, "strata_ckpt_stall_seconds_count") == 3);
    CHECK(value(reg, "strata_ckpt_commit_seconds_count") == 3);
    CHECK(value(reg, "strata_ckpt_encode_seconds_count") == 3);
    CHECK(value(reg, "strata_ckpt_job_stall_seconds_max") == Approx(s.total_seconds));
    CHECK(value(reg, "strata_ckpt_failed_total") == 0);
    CHECK(value(reg, "strata_ckpt_restores_total") == 0);
  }
  field.assign(1000, 0.0);
  solo_ckpt ck{comm::solo{}, {.directory = dir.path(), .log = nullptr}};
  ck.protect("field", field);
  ck.protect("step", step);
  REQUIRE(ck.restore_latest() == 3u);
  auto const& reg = ck.metrics();
  CHECK(value(reg, "strata_ckpt_restores_total") == 1);
  CHECK(value(reg, "strata_ckpt_restored_version") == 3);
  CHECK(value(reg, "strata_ckpt_restore_read_bytes_total") == static_cast<double>(ck.last_stats().read_bytes));
  CHECK(value(reg, "strata_ckpt_job_restore_read_bytes_total") == static_cast<double>(ck.last_stats().read_bytes));
  CHECK(value(reg, "strata_ckpt_restore_seconds_count") == 1);
  CHECK(ck.last_stats().read_bytes > 0);
}

TEST_CASE("metrics: a failed checkpoint is counted", "[checkpoint][metrics]") {
  test::scratch_dir dir{comm::solo{}, "metrics_failed"};
  solo_ckpt ck{comm::solo{}, {.directory = dir.path(), .log = nullptr}};
  CHECK_THROWS_AS(ck.checkpoint(), usage_error);  // nothing protected
  CHECK(value(ck.metrics(), "strata_ckpt_failed_total") == 1);
  CHECK(value(ck.metrics(), "strata_ckpt_committed_total") == 0);
}

TEST_CASE("metrics: async checkpoints count their commits once written", "[checkpoint][metrics][async]") {
  test::scratch_dir dir{comm::solo{}, "metrics_async"};
  std::vector<int> field(4096, 7);
  solo_ckpt ck{comm::solo{}, {.directory = dir.path(), .async = true, .log = nullptr}};
  ck.protect("field", field);
  for (int i = 0; i < 4; ++i) ck.checkpoint();
  ck.wait();
  auto const& reg = ck.metrics();
  CHECK(value(reg, "strata_ckpt_committed_total") + value(reg, "strata_ckpt_superseded_total") == 4);
  CHECK(value(reg, "strata_ckpt_stall_seconds_count") == value(reg, "strata_ckpt_committed_total"));
  CHECK(value(reg, "strata_ckpt_bytes_written_total") ==
        value(reg, "strata_ckpt_committed_total") * static_cast<double>(ck.last_stats().bytes));
}

TEST_CASE("metrics: rank 0 writes the Prometheus file at each commit, atomically", "[checkpoint][metrics]") {
  test::scratch_dir dir{comm::solo{}, "metrics_file"};
  auto const file = dir.path() / "out" / "strata.prom";
  std::uint64_t x = 0;
  {
    solo_ckpt ck{comm::solo{}, {.directory = dir.path() / "ck", .log = nullptr, .metrics_file = file}};
    ck.protect("x", x);
    ck.checkpoint();
    REQUIRE(fs::exists(file));
    CHECK_FALSE(fs::exists(file.string() + ".tmp"));
    auto v = parse_prometheus(read_text(file));
    CHECK(v.at("strata_ckpt_committed_total") == 1);
    CHECK(v.at("strata_ckpt_bytes_written_total") == static_cast<double>(ck.last_stats().bytes));
    CHECK(v.count("strata_ckpt_stall_seconds_bucket{le=\"+Inf\"}") == 1);
    ck.checkpoint();
    CHECK(parse_prometheus(read_text(file)).at("strata_ckpt_committed_total") == 2);
    ck.restore_latest();
    CHECK(parse_prometheus(read_text(file)).at("strata_ckpt_restores_total") == 1);
  }
  auto const text = read_text(file);
  CHECK(text.find("# TYPE strata_ckpt_committed_total counter\n") != std::string::npos);
  CHECK(text.find("# TYPE strata_ckpt_stall_seconds histogram\n") != std::string::npos);
}

TEST_CASE("metrics: one registry and one file for a dispatcher and a checkpointer", "[checkpoint][metrics][schedule]") {
  test::scratch_dir dir{comm::solo{}, "metrics_shared"};
  auto const file = dir.path() / "job.prom";
  schedule::dispatcher<schedule::task, schedule::fcfs, schedule::round_robin, comm::solo> d{
      comm::solo{}, {.metrics_file = file, .log = [](std::string_view) {}}};
  std::uint64_t done = 0;
  solo_ckpt ck{comm::solo{}, {.directory = dir.path() / "ck", .log = nullptr, .metrics = &d.metrics()}};
  ck.protect("done", done);
  CHECK(&ck.metrics() == &d.metrics());
  for (schedule::task_id i = 0; i < 3; ++i) d.submit(schedule::task{i, {}});
  d.run([&](schedule::task_context const&) {
    ++done;
    ck.checkpoint();
    return std::vector<std::byte>{};
  });
  d.write_metrics();
  auto const v = parse_prometheus(read_text(file));
  CHECK(v.at("strata_sched_tasks_succeeded_total") == 3);
  CHECK(v.at("strata_ckpt_committed_total") == 3);
}

TEST_CASE("metrics: a long operation gets a progress line", "[checkpoint][metrics]") {
  std::ostringstream log;
  logger const lg{&log, verbosity::warnings, 0};
  {
    checkpoint::detail::progress_watch w{lg, std::chrono::milliseconds{20}, [](double s) {
                                           return "still at it after " + std::to_string(s >= 0.02) + " s";
                                         }};
    std::this_thread::sleep_for(std::chrono::milliseconds{70});
  }
  CHECK(log.str().starts_with("strata[rank 0]: still at it after 1 s\n"));
  std::ostringstream quiet;
  logger const lq{&quiet, verbosity::warnings, 0};
  {
    checkpoint::detail::progress_watch w{lq, std::chrono::seconds{5}, [](double) { return std::string("x"); }};
  }
  CHECK(quiet.str().empty());  // done before the threshold: no line
  CHECK(checkpoint::detail::human_bytes(1536.0 * 1024) == "1.5 MiB");
}
