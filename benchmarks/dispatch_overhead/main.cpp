// dispatch_overhead: (a) ns per selection decision (select + the status update an assignment causes)
// for 8, 64, 1024 and 4096 workers, per policy, one process; (b) end-to-end tasks/s through the MPI
// dispatcher with empty tasks when run under mpiexec with n > 1. Writes <out>.json and <out>.csv.
//
//   bench_dispatch_overhead --out decisions              (n = 1: part a)
//   mpiexec -n 4 bench_dispatch_overhead --tasks 20000   (part b)
#include <strata/comm/mpi.hpp>
#include <strata/schedule/dispatcher.hpp>
#include <strata/schedule/selection.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace sched = strata::schedule;
using bench_clock = std::chrono::steady_clock;

template <class Policy>
double ns_per_decision(std::size_t n, std::size_t decisions) {
  std::vector<sched::worker_status> w(n);
  std::mt19937_64 rng{42};
  for (std::size_t i = 0; i < n; ++i) {
    w[i].rank = static_cast<int>(i) + 1;
    w[i].total_memory = 1 << 30;
    w[i].free_memory = rng() % (1 << 30);
    w[i].latency_s = 0.001 + static_cast<double>(rng() % 1000) * 1e-5;
    w[i].last_response_s = w[i].latency_s;
    w[i].responses = 1;
  }
  Policy p{};
  (void)p.select(sched::worker_view(w), {});  // build the index
  std::size_t sink = 0;
  auto const t0 = bench_clock::now();
  for (std::size_t k = 0; k < decisions; ++k) {
    auto const pick = p.select(sched::worker_view(w), {.memory_needed = 1 << 20});
    std::size_t const i = pick ? *pick : k % n;
    sink += i;
    // what an assignment and, later, its answer change: in-flight count and the latency figures
    w[i].in_flight = (w[i].in_flight + 1) % 3;
    w[i].last_response_s = 0.001 + static_cast<double>(k % 97) * 1e-5;
    w[i].latency_s = 0.8 * w[i].last_response_s + 0.2 * w[i].latency_s;
    w[i].responses += 1;
    p.update(sched::worker_view(w), i);
  }
  auto const t1 = bench_clock::now();
  if (sink == 42) std::puts("");
  return std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(decisions);
}

int main(int argc, char** argv) {
  std::string out = "dispatch_overhead";
  std::size_t tasks = 20000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--out")) out = argv[i + 1];
    else if (!std::strcmp(argv[i], "--tasks")) tasks = std::stoul(argv[i + 1]);
  }
  strata::comm::mpi_environment env{argc, argv};
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size == 1) {
    std::FILE* js = std::fopen((out + ".json").c_str(), "w");
    std::FILE* csv = std::fopen((out + ".csv").c_str(), "w");
    std::fprintf(csv, "workers,round_robin,least_loaded,filter_score,ewma_proportional\n");
    std::fprintf(js, "{\n  \"benchmark\": \"dispatch_overhead/decisions\",\n  \"unit\": \"ns per decision (select + update)\",\n  \"rows\": [\n");
    std::printf("%8s %12s %12s %12s %18s   (ns per decision)\n", "workers", "round_robin", "least_loaded",
                "filter_score", "ewma_proportional");
    std::size_t const sizes[] = {8, 64, 1024, 4096};
    for (std::size_t k = 0; k < 4; ++k) {
      std::size_t const n = sizes[k];
      std::size_t const d = 400000;
      double const a = ns_per_decision<sched::round_robin>(n, d);
      double const b = ns_per_decision<sched::least_loaded>(n, d);
      double const c = ns_per_decision<sched::filter_score>(n, d);
      double const e = ns_per_decision<sched::ewma_proportional>(n, d);
      std::printf("%8zu %12.1f %12.1f %12.1f %18.1f\n", n, a, b, c, e);
      std::fprintf(csv, "%zu,%.2f,%.2f,%.2f,%.2f\n", n, a, b, c, e);
      std::fprintf(js, "    {\"workers\": %zu, \"round_robin\": %.2f, \"least_loaded\": %.2f, \"filter_score\": %.2f, "
                   "\"ewma_proportional\": %.2f}%s\n", n, a, b, c, e, k < 3 ? "," : "");
    }
    std::fprintf(js, "  ],\n  \"goal\": \"<= 1000 ns per decision at 64 workers\"\n}\n");
    std::fclose(js);
    std::fclose(csv);
    return 0;
  }
  // (b) end to end: empty tasks through the MPI dispatcher, per selection policy
  auto run = [&](auto selection, char const* name) {
    using S = decltype(selection);
    sched::dispatcher<sched::task, sched::fcfs, S> d{MPI_COMM_WORLD, {.max_in_flight = 4}};
    if (d.is_router())
      for (std::size_t i = 0; i < tasks; ++i) d.submit(sched::task{i, {}});
    MPI_Barrier(MPI_COMM_WORLD);
    auto const t0 = bench_clock::now();
    auto const s = d.run([](sched::task_context const&) { return std::vector<std::byte>{}; });
    double const secs = std::chrono::duration<double>(bench_clock::now() - t0).count();
    if (rank == 0) {
      std::printf("n=%d %-18s %8zu tasks in %.3f s: %10.0f tasks/s, p50 dispatch %s\n", size, name, s.succeeded, secs,
                  static_cast<double>(s.succeeded) / secs, "");
      std::FILE* js = std::fopen((out + "_e2e_n" + std::to_string(size) + "_" + name + ".json").c_str(), "w");
      std::fprintf(js, "{\"benchmark\": \"dispatch_overhead/end_to_end\", \"ranks\": %d, \"selection\": \"%s\", "
                   "\"tasks\": %zu, \"seconds\": %.4f, \"tasks_per_second\": %.1f}\n",
                   size, name, s.succeeded, secs, static_cast<double>(s.succeeded) / secs);
      std::fclose(js);
    }
  };
  run(sched::round_robin{}, "round_robin");
  run(sched::ewma_proportional{}, "ewma_proportional");
  return 0;
}
