// priority_latency: the same bursty workload scheduled with fcfs, static_priority and weighted_ageing
// (SPEC S6), side by side in one run. A discrete-event simulation of W workers that drives strata's
// own ready queue and priority policies on a simulated clock, so the figures are the policies', not
// the machine's. Writes JSON and CSV; plot with plot.sh.
//
// Workload (SPEC S6-like): bursts of 1.9x capacity for 2 s of every 10 s, 0.55x otherwise; business levels
// 0-3 (30/30/25/15 %), level 3 = high priority with a 500 ms deadline; light tasks (lognormal, median 20 ms,
// resource demand 0.05-0.3) and heavy tasks (median 200 ms, demand 0.7-1.0), --heavy-share of them heavy;
// levels independent of size unless --high-light-bias b (0..1): then a level-3 task is light with
// probability light_share + b * heavy_share.
//
// Also reported: sjf_oracle, shortest task first knowing each service time exactly (not a strata policy):
// the most any non-preemptive reordering of this workload can gain on the mean. --sweep adds the
// weighted/fcfs ratio over a grid of heavy share x high-priority share x bias (<out>_sweep.csv).
//
//   bench_priority_latency [--tasks 20000] [--workers 8] [--heavy-share 0.3] [--high-share 0.15]
//                          [--high-light-bias 0] [--seed 1] [--sweep] [--out priority_latency]
#include <strata/schedule/detail/ready_queue.hpp>
#include <strata/schedule/priority.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <queue>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

namespace sched = strata::schedule;

struct job {
  double arrival_s;
  double service_s;
  double level;   // 0..3 business level; 3 = high priority, with a deadline
  double demand;  // resource demand in [0, 1], heavier jobs take longer
  double deadline_s;
};

struct result {
  std::string policy;
  double avg_ms = 0, p50_ms = 0, p99_ms = 0, high_avg_ms = 0, high_on_time = 0;
};

struct mix {
  double heavy_share = 0.3;      // share of heavy tasks
  double high_share = 0.15;      // share of level-3 (high-priority, deadline) tasks
  double high_light_bias = 0.0;  // 0: levels independent of size; 1: every high-priority task is light
};

/// Bursty arrivals of light and heavy tasks at mixed business levels.
std::vector<job> workload(std::size_t n, int workers, mix m, std::uint64_t seed) {
  std::mt19937_64 rng{seed};
  std::lognormal_distribution<double> light{std::log(0.020), 0.5}, heavy{std::log(0.200), 0.5};
  std::uniform_real_distribution<double> u{0, 1};
  double const spread = std::exp(0.5 * 0.5 / 2);
  double const mean_service = ((1 - m.heavy_share) * 0.020 + m.heavy_share * 0.200) * spread;
  double const capacity = workers / mean_service;  // jobs per second
  // the other levels share what level 3 leaves in the proportions 30 : 30 : 25
  double const rest = 1 - m.high_share;
  std::vector<job> jobs;
  double t = 0;
  while (jobs.size() < n) {
    bool const burst = std::fmod(t, 10.0) < 2.0;  // 2 s of every 10 s
    double const rate = capacity * (burst ? 1.9 : 0.55);
    t += std::exponential_distribution<double>{rate}(rng);
    double const r = u(rng);
    double const level = r < m.high_share ? 3 : r < m.high_share + rest * 30 / 85 ? 2 : r < m.high_share + rest * 55 / 85 ? 1 : 0;
    double p_light = 1 - m.heavy_share;
    if (level == 3) {
      p_light += m.high_light_bias * m.heavy_share;
    } else if (m.high_share < 1) {  // keep the overall heavy share: the other levels take the heavy tasks level 3 gave up
      p_light -= m.high_light_bias * m.heavy_share * m.high_share / (1 - m.high_share);
    }
    bool const is_light = u(rng) < std::clamp(p_light, 0.0, 1.0);
    double const s = std::min(is_light ? light(rng) : heavy(rng), 2.0);
    double const demand = is_light ? 0.05 + 0.25 * u(rng) : 0.7 + 0.3 * u(rng);
    jobs.push_back({t, s, level, demand, level == 3 ? 0.5 : 1e9});
  }
  return jobs;
}

/// Shortest task first with exact knowledge of each service time (a reference bound, not a strata policy):
/// the simulation stores service / 2 s in the resource demand for this run.
struct sjf_oracle {
  static constexpr bool time_invariant = true;
  template <class T>
  [[nodiscard]] double score(T const& t, sched::clock::time_point) const noexcept {
    return -t.resource_demand();
  }
  friend bool operator==(sjf_oracle, sjf_oracle) noexcept { return true; }
};

template <class Policy>
result simulate(std::vector<job> const& jobs, int workers, char const* name) {
  auto const base = sched::clock::time_point{};
  auto at = [&](double s) { return base + std::chrono::duration_cast<sched::clock::duration>(sched::seconds{s}); };
  std::deque<sched::task> tasks;
  for (std::size_t i = 0; i < jobs.size(); ++i)
    tasks.emplace_back(i, std::vector<std::byte>{},
                       sched::task_spec{.business_level = jobs[i].level,
                                        .resource_demand = std::is_same_v<Policy, sjf_oracle>
                                                               ? jobs[i].service_s / 2.0 : jobs[i].demand},
                       at(jobs[i].arrival_s));
  sched::detail::ready_queue<Policy, sched::task> q;
  std::priority_queue<double, std::vector<double>, std::greater<>> free_at;
  for (int w = 0; w < workers; ++w) free_at.push(0.0);
  std::vector<double> latency(jobs.size());
  std::size_t next = 0, done = 0;
  double now = 0;
  while (done < jobs.size()) {
    // admit arrivals up to the moment the next worker is free
    double const worker_free = free_at.top();
    if (next < jobs.size() && (q.empty() || jobs[next].arrival_s <= worker_free)) {
      now = jobs[next].arrival_s;
      q.push(&tasks[next], next, at(now));
      ++next;
      continue;
    }
    now = std::max(worker_free, now);
    free_at.pop();
    auto const* t = q.pop(at(now));
    auto const i = static_cast<std::size_t>(t->id());
    double const finish = now + jobs[i].service_s;
    latency[i] = finish - jobs[i].arrival_s;
    free_at.push(finish);
    ++done;
  }
  result r;
  r.policy = name;
  std::vector<double> sorted = latency;
  std::sort(sorted.begin(), sorted.end());
  double sum = 0, high_sum = 0;
  std::size_t high = 0, on_time = 0;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    sum += latency[i];
    if (jobs[i].level == 3) {
      ++high;
      high_sum += latency[i];
      on_time += latency[i] <= jobs[i].deadline_s;
    }
  }
  r.avg_ms = 1e3 * sum / static_cast<double>(jobs.size());
  r.p50_ms = 1e3 * sorted[sorted.size() / 2];
  r.p99_ms = 1e3 * sorted[static_cast<std::size_t>(0.99 * static_cast<double>(sorted.size() - 1))];
  r.high_avg_ms = 1e3 * high_sum / static_cast<double>(std::max<std::size_t>(high, 1));
  r.high_on_time = static_cast<double>(on_time) / static_cast<double>(std::max<std::size_t>(high, 1));
  return r;
}

/// ns per pop (with one push, to keep the size) of the weighted_ageing ready queue holding `size` tasks.
template <class Queue>
double ns_per_pop(std::size_t size, std::size_t pops) {
  auto const base = sched::clock::time_point{} + std::chrono::hours(1);
  auto at = [&](double s) { return base + std::chrono::duration_cast<sched::clock::duration>(sched::seconds{s}); };
  std::mt19937_64 rng{7};
  std::uniform_real_distribution<double> u{0, 1};
  std::deque<sched::task> tasks;
  Queue q;
  std::uint64_t seq = 0;
  auto add = [&](double now) {
    tasks.emplace_back(seq, std::vector<std::byte>{},
                       sched::task_spec{.business_level = std::floor(4 * u(rng)), .resource_demand = u(rng)},
                       at(now - 60 * u(rng)));
    q.push(&tasks.back(), seq++, at(now));
  };
  for (std::size_t i = 0; i < size; ++i) add(0);
  double now = 0;
  std::size_t sink = 0;
  auto const t0 = std::chrono::steady_clock::now();
  for (std::size_t k = 0; k < pops; ++k) {
    now += 1e-3;
    sink += q.pop(at(now))->id();
    add(now);
  }
  double const ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
  if (sink == 42) std::puts("");
  return ns / static_cast<double>(pops);
}

int pop_cost(std::string const& out) {
  std::FILE* js = std::fopen((out + ".json").c_str(), "w");
  std::fprintf(js, "{\n  \"benchmark\": \"weighted_ageing ready queue, ns per pop (+ one push)\",\n  \"rows\": [\n");
  std::printf("%8s %14s %14s %8s\n", "queued", "rescore ns", "indexed ns", "speedup");
  std::size_t const sizes[] = {1000, 10000, 100000};
  for (std::size_t i = 0; i < 3; ++i) {
    std::size_t const n = sizes[i];
    double const naive = ns_per_pop<sched::detail::rescoring_queue<sched::weighted_ageing, sched::task>>(n, 20000000 / n);
    double const fast = ns_per_pop<sched::detail::ready_queue<sched::weighted_ageing, sched::task>>(n, 200000);
    std::printf("%8zu %14.0f %14.0f %8.0f\n", n, naive, fast, naive / fast);
    std::fprintf(js, "    {\"queued\": %zu, \"rescoring_ns_per_pop\": %.1f, \"indexed_ns_per_pop\": %.1f}%s\n", n, naive,
                 fast, i + 1 < 3 ? "," : "");
  }
  std::fprintf(js, "  ]\n}\n");
  std::fclose(js);
  return 0;
}

int main(int argc, char** argv) {
  std::size_t n = 20000;
  int workers = 8;
  std::uint64_t seed = 1;
  mix m;
  bool sweep = false;
  std::string out = "priority_latency";
  for (int i = 1; i < argc; ++i) {
    std::string const a = argv[i];
    if (a == "--sweep") { sweep = true; continue; }
    if (a == "--pop-cost") return pop_cost(i + 2 < argc && std::string(argv[i + 1]) == "--out" ? argv[i + 2] : "priority_latency_pop");
    if (i + 1 >= argc) break;
    if (a == "--tasks") n = std::stoul(argv[++i]);
    else if (a == "--workers") workers = std::stoi(argv[++i]);
    else if (a == "--seed") seed = std::stoull(argv[++i]);
    else if (a == "--heavy-share") m.heavy_share = std::stod(argv[++i]);
    else if (a == "--high-share") m.high_share = std::stod(argv[++i]);
    else if (a == "--high-light-bias") m.high_light_bias = std::stod(argv[++i]);
    else if (a == "--out") out = argv[++i];
  }
  auto const jobs = workload(n, workers, m, seed);
  std::vector<result> rs{simulate<sched::fcfs>(jobs, workers, "fcfs"),
                         simulate<sched::static_priority>(jobs, workers, "static"),
                         simulate<sched::weighted_ageing>(jobs, workers, "weighted"),
                         simulate<sjf_oracle>(jobs, workers, "sjf_oracle")};
  double const ratio = rs[2].avg_ms / rs[0].avg_ms;
  std::FILE* csv = std::fopen((out + ".csv").c_str(), "w");
  std::fprintf(csv, "policy,avg_ms,p50_ms,p99_ms,high_avg_ms,high_on_time_pct\n");
  std::FILE* js = std::fopen((out + ".json").c_str(), "w");
  std::fprintf(js, "{\n  \"benchmark\": \"priority_latency\",\n  \"mode\": \"simulated clock, strata ready_queue and policies\",\n"
               "  \"tasks\": %zu,\n  \"workers\": %d,\n  \"seed\": %llu,\n  \"heavy_share\": %.3f,\n  \"high_share\": %.3f,\n"
               "  \"high_light_bias\": %.3f,\n  \"high_priority_deadline_ms\": 500,\n  \"policies\": [\n",
               n, workers, static_cast<unsigned long long>(seed), m.heavy_share, m.high_share, m.high_light_bias);
  std::printf("%-10s %9s %9s %9s %12s %10s %9s\n", "policy", "avg ms", "p50 ms", "p99 ms", "high avg ms", "high on time", "vs fcfs");
  for (std::size_t i = 0; i < rs.size(); ++i) {
    auto const& r = rs[i];
    std::printf("%-10s %9.1f %9.1f %9.1f %12.1f %9.1f%% %9.3f\n", r.policy.c_str(), r.avg_ms, r.p50_ms, r.p99_ms,
                r.high_avg_ms, 100 * r.high_on_time, r.avg_ms / rs[0].avg_ms);
    std::fprintf(csv, "%s,%.3f,%.3f,%.3f,%.3f,%.2f\n", r.policy.c_str(), r.avg_ms, r.p50_ms, r.p99_ms, r.high_avg_ms,
                 100 * r.high_on_time);
    std::fprintf(js, "    {\"policy\": \"%s\", \"avg_ms\": %.3f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"high_avg_ms\": %.3f, "
                 "\"high_on_time\": %.4f, \"avg_vs_fcfs\": %.4f}%s\n", r.policy.c_str(), r.avg_ms, r.p50_ms, r.p99_ms, r.high_avg_ms,
                 r.high_on_time, r.avg_ms / rs[0].avg_ms, i + 1 < rs.size() ? "," : "");
  }
  std::fprintf(js, "  ],\n  \"weighted_over_fcfs_avg_latency\": %.4f,\n  \"sjf_oracle_over_fcfs_avg_latency\": %.4f,\n"
               "  \"goal\": \"ratio <= 0.45 and high on time >= 0.99\",\n  \"goal_met\": %s",
               ratio, rs[3].avg_ms / rs[0].avg_ms, ratio <= 0.45 && rs[2].high_on_time >= 0.99 ? "true" : "false");
  std::printf("weighted / fcfs average latency: %.3f (goal <= 0.45); weighted high-priority on time: %.1f%% (goal >= 99%%); "
              "sjf_oracle / fcfs: %.3f\n", ratio, 100 * rs[2].high_on_time, rs[3].avg_ms / rs[0].avg_ms);
  if (sweep) {
    std::FILE* sw = std::fopen((out + "_sweep.csv").c_str(), "w");
    std::fprintf(sw, "heavy_share,high_share,high_light_bias,weighted_vs_fcfs,static_vs_fcfs,sjf_vs_fcfs,weighted_high_on_time_pct\n");
    std::fprintf(js, ",\n  \"sweep\": [\n");
    bool first = true;
    for (double bias : {0.0, 1.0})
      for (double high : {0.05, 0.15, 0.3, 0.5})
        for (double heavy : {0.0, 0.1, 0.2, 0.3, 0.5}) {
          mix const mm{heavy, high, bias};
          auto const jj = workload(n, workers, mm, seed);
          auto const f = simulate<sched::fcfs>(jj, workers, "fcfs");
          auto const st = simulate<sched::static_priority>(jj, workers, "static");
          auto const w = simulate<sched::weighted_ageing>(jj, workers, "weighted");
          auto const o = simulate<sjf_oracle>(jj, workers, "sjf_oracle");
          std::fprintf(sw, "%.2f,%.2f,%.1f,%.4f,%.4f,%.4f,%.2f\n", heavy, high, bias, w.avg_ms / f.avg_ms,
                       st.avg_ms / f.avg_ms, o.avg_ms / f.avg_ms, 100 * w.high_on_time);
          std::fprintf(js, "%s    {\"heavy_share\": %.2f, \"high_share\": %.2f, \"high_light_bias\": %.1f, "
                       "\"weighted_vs_fcfs\": %.4f, \"static_vs_fcfs\": %.4f, \"sjf_oracle_vs_fcfs\": %.4f, "
                       "\"weighted_high_on_time\": %.4f}", first ? "" : ",\n", heavy, high, bias, w.avg_ms / f.avg_ms,
                       st.avg_ms / f.avg_ms, o.avg_ms / f.avg_ms, w.high_on_time);
          first = false;
          std::printf("sweep heavy %.2f high %.2f bias %.0f: weighted/fcfs %.3f static/fcfs %.3f sjf/fcfs %.3f on time %.1f%%\n",
                      heavy, high, bias, w.avg_ms / f.avg_ms, st.avg_ms / f.avg_ms, o.avg_ms / f.avg_ms, 100 * w.high_on_time);
        }
    std::fprintf(js, "\n  ]");
    std::fclose(sw);
  }
  std::fprintf(js, "\n}\n");
  std::fclose(csv);
  std::fclose(js);
  return 0;
}
