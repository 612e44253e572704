#include <catch2/catch.hpp>
#include <strata/metrics/counters.hpp>
#include <strata/metrics/progress.hpp>
#include <strata/metrics/prometheus.hpp>
#include <strata/metrics/registry.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

using namespace strata::metrics;

TEST_CASE("counters, gauges and histograms count", "[metrics]") {
  counter c;
  c.add();
  c.add(2.5);
  c.add(-4);  // ignored: counters only grow
  CHECK(c.value() == 3.5);
  gauge g;
  g.set(4);
  g.add(-1);
  CHECK(g.value() == 3);
  histogram h{{1.0, 2.0, 4.0}};
  for (double v : {0.5, 1.0, 1.5, 3.0, 100.0}) h.observe(v);
  CHECK(h.count() == 5);
  CHECK(h.sum() == Approx(106.0));
  CHECK(h.bucket(0) == 2);  // <= 1
  CHECK(h.bucket(1) == 1);
  CHECK(h.bucket(2) == 1);
  CHECK(h.bucket(3) == 1);  // +Inf
  CHECK(h.quantile(0.4) == 1.0);
  CHECK(h.quantile(0.8) == 4.0);
  CHECK(std::isinf(h.quantile(1.0)));
  CHECK_THROWS_AS(histogram({2.0, 1.0}), strata::usage_error);
}

TEST_CASE("counters are safe to update from several threads", "[metrics]") {
  counter c;
  histogram h;
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.add();
        h.observe(1e-3);
      }
    });
  for (auto& t : ts) t.join();
  CHECK(c.value() == 40000);
  CHECK(h.count() == 40000);
}

TEST_CASE("registry renders the Prometheus text format", "[metrics]") {
  registry r;
  r.counter("jobs_done_total", "Jobs done").add(3);
  r.gauge("queue_length", "Waiting").set(7);
  auto& h = r.histogram("latency_seconds", "Latency", {0.1, 1.0});
  h.observe(0.05);
  h.observe(0.5);
  h.observe(5);
  CHECK(&r.counter("jobs_done_total") == &r.counter("jobs_done_total"));
  CHECK_THROWS_WITH(r.gauge("jobs_done_total"), Catch::Contains("already a counter"));
  CHECK_THROWS_WITH(r.counter("bad name"), Catch::Contains("not a valid Prometheus metric name"));
  auto const text = r.prometheus_text();
  CHECK_THAT(text, Catch::Contains("# HELP jobs_done_total Jobs done\n# TYPE jobs_done_total counter\njobs_done_total 3\n"));
  CHECK_THAT(text, Catch::Contains("# TYPE queue_length gauge\nqueue_length 7\n"));
  CHECK_THAT(text, Catch::Contains("latency_seconds_bucket{le=\"0.10000000000000001\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("latency_seconds_bucket{le=\"1\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("latency_seconds_bucket{le=\"+Inf\"} 3\n"));
  CHECK_THAT(text, Catch::Contains("latency_seconds_sum 5.5"));
  CHECK_THAT(text, Catch::Contains("latency_seconds_count 3\n"));
}

TEST_CASE("prometheus_file writes periodically and on demand, atomically", "[metrics]") {
  auto const dir = std::filesystem::temp_directory_path() / ("strata_prom_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  registry r;
  auto& c = r.counter("ticks_total");
  prometheus_file f{r, dir / "m.prom", std::chrono::milliseconds(50)};
  auto const t0 = prometheus_file::clock::now();
  CHECK(f.tick(t0));  // first tick writes
  CHECK_FALSE(f.tick(t0 + std::chrono::milliseconds(10)));
  c.add(5);
  f.write();  // on demand
  auto read = [&] {
    std::ifstream in(dir / "m.prom");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  CHECK_THAT(read(), Catch::Contains("ticks_total 5"));
  c.add(1);
  CHECK(f.tick(prometheus_file::clock::now() + std::chrono::seconds(1)));
  CHECK_THAT(read(), Catch::Contains("ticks_total 6"));
  CHECK_FALSE(std::filesystem::exists(dir / "m.prom.tmp"));
  CHECK(f.writes() == 3);
  std::filesystem::remove_all(dir);
}

TEST_CASE("progress_line shows done/total, rate and ETA", "[metrics]") {
  auto const t0 = progress_line::clock::now();
  progress_line p{200, "items", std::chrono::seconds(1), nullptr, t0};
  CHECK(p.render(0, t0) == "0/200 items (0.0%)  -- items/s  ETA --");
  CHECK(p.render(50, t0 + std::chrono::seconds(10)) == "50/200 items (25.0%)  5.0 items/s  ETA 30.0 s");
  CHECK(p.render(200, t0 + std::chrono::seconds(40)) == "200/200 items (100.0%)  5.0 items/s  done in 40.0 s");
  progress_line resumed{200, "items", std::chrono::seconds(1), nullptr, t0};
  resumed.set_baseline(100);
  CHECK(resumed.render(150, t0 + std::chrono::seconds(10)) == "150/200 items (75.0%)  5.0 items/s  ETA 10.0 s");
}
