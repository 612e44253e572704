// priority_latency: the same bursty workload scheduled with fcfs, static_priority and weighted_ageing
// (SPEC S6), side by side in one run. A discrete-event simulation of W workers that drives strata's
// own ready queue and priority policies on a simulated clock, so the figures are the policies', not
// the machine's. Writes JSON and CSV; plot with plot.sh.
//
//   bench_priority_latency [--tasks 20000] [--workers 8] [--seed 1] [--out priority_latency]
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

/// Bursty arrivals: a steady stream at 75 % load, plus bursts that bring ~2x the capacity for a while.
std::vector<job> workload(std::size_t n, int workers, std::uint64_t seed) {
  std::mt19937_64 rng{seed};
  std::lognormal_distribution<double> service{std::log(0.040), 0.9};  // median 40 ms, heavy tail
  std::uniform_real_distribution<double> u{0, 1};
  double const mean_service = 0.040 * std::exp(0.9 * 0.9 / 2);
  double const capacity = workers / mean_service;  // jobs per second
  std::vector<job> jobs;
  double t = 0;
  while (jobs.size() < n) {
    bool const burst = std::fmod(t, 10.0) < 2.0;  // 2 s of every 10 s
    double const rate = capacity * (burst ? 1.9 : 0.55);
    t += std::exponential_distribution<double>{rate}(rng);
    double const s = std::min(service(rng), 2.0);
    double const r = u(rng);
    double const level = r < 0.15 ? 3 : r < 0.40 ? 2 : r < 0.70 ? 1 : 0;
    jobs.push_back({t, s, level, std::min(1.0, s / 0.5), level == 3 ? 0.5 : 1e9});
  }
  return jobs;
}

template <class Policy>
result simulate(std::vector<job> const& jobs, int workers, char const* name) {
  auto const base = sched::clock::time_point{};
  auto at = [&](double s) { return base + std::chrono::duration_cast<sched::clock::duration>(sched::seconds{s}); };
  std::deque<sched::task> tasks;
  for (std::size_t i = 0; i < jobs.size(); ++i)
    tasks.emplace_back(i, std::vector<std::byte>{},
                       sched::task_spec{.business_level = jobs[i].level, .resource_demand = jobs[i].demand},
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

int main(int argc, char** argv) {
  std::size_t n = 20000;
  int workers = 8;
  std::uint64_t seed = 1;
  std::string out = "priority_latency";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--tasks")) n = std::stoul(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--workers")) workers = std::stoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seed")) seed = std::stoull(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--out")) out = argv[i + 1];
  }
  auto const jobs = workload(n, workers, seed);
  std::vector<result> rs{simulate<sched::fcfs>(jobs, workers, "fcfs"),
                         simulate<sched::static_priority>(jobs, workers, "static"),
                         simulate<sched::weighted_ageing>(jobs, workers, "weighted")};
  double const ratio = rs[2].avg_ms / rs[0].avg_ms;
  std::FILE* csv = std::fopen((out + ".csv").c_str(), "w");
  std::fprintf(csv, "policy,avg_ms,p50_ms,p99_ms,high_avg_ms,high_on_time_pct\n");
  std::FILE* js = std::fopen((out + ".json").c_str(), "w");
  std::fprintf(js, "{\n  \"benchmark\": \"priority_latency\",\n  \"tasks\": %zu,\n  \"workers\": %d,\n  \"seed\": %llu,\n"
               "  \"high_priority_deadline_ms\": 500,\n  \"policies\": [\n", n, workers, static_cast<unsigned long long>(seed));
  std::printf("%-9s %9s %9s %9s %12s %10s\n", "policy", "avg ms", "p50 ms", "p99 ms", "high avg ms", "high on time");
  for (std::size_t i = 0; i < rs.size(); ++i) {
    auto const& r = rs[i];
    std::printf("%-9s %9.1f %9.1f %9.1f %12.1f %9.1f%%\n", r.policy.c_str(), r.avg_ms, r.p50_ms, r.p99_ms,
                r.high_avg_ms, 100 * r.high_on_time);
    std::fprintf(csv, "%s,%.3f,%.3f,%.3f,%.3f,%.2f\n", r.policy.c_str(), r.avg_ms, r.p50_ms, r.p99_ms, r.high_avg_ms,
                 100 * r.high_on_time);
    std::fprintf(js, "    {\"policy\": \"%s\", \"avg_ms\": %.3f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"high_avg_ms\": %.3f, "
                 "\"high_on_time\": %.4f}%s\n", r.policy.c_str(), r.avg_ms, r.p50_ms, r.p99_ms, r.high_avg_ms,
                 r.high_on_time, i + 1 < rs.size() ? "," : "");
  }
  std::fprintf(js, "  ],\n  \"weighted_over_fcfs_avg_latency\": %.4f,\n  \"goal\": \"ratio <= 0.45 and high on time >= 0.99\",\n"
               "  \"goal_met\": %s\n}\n", ratio, ratio <= 0.45 && rs[2].high_on_time >= 0.99 ? "true" : "false");
  std::fclose(csv);
  std::fclose(js);
  std::printf("weighted / fcfs average latency: %.3f (goal <= 0.45); weighted high-priority on time: %.1f%% (goal >= 99%%)\n",
              ratio, 100 * rs[2].high_on_time);
  return 0;
}
