// ewma_vs_rr: heterogeneous workers (some ranks artificially slowed) under the MPI dispatcher;
// makespan of ewma_proportional and filter_score against round_robin, side by side in one run.
// Tasks wait (sleep) for cost * slowdown, so oversubscribed cores do not blur the speeds.
// max_in_flight is high (8) so the policy, not a pull-when-idle cap, decides where work goes.
//
//   mpiexec -n 4 bench_ewma_vs_rr [--tasks 600] [--cost-ms 2] [--slow-rank 1] [--slow-factor 4] [--out ewma_vs_rr]
#include <strata/comm/mpi.hpp>
#include <strata/schedule/dispatcher.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <thread>

namespace sched = strata::schedule;

int main(int argc, char** argv) {
  std::size_t tasks = 600;
  double cost_ms = 2.0, slow_factor = 4.0;
  int slow_rank = 1;
  std::uint32_t in_flight = 8;
  std::string out = "ewma_vs_rr";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--tasks")) tasks = std::stoul(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--cost-ms")) cost_ms = std::stod(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--slow-rank")) slow_rank = std::stoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--slow-factor")) slow_factor = std::stod(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--in-flight")) in_flight = static_cast<std::uint32_t>(std::stoul(argv[i + 1]));
    else if (!std::strcmp(argv[i], "--out")) out = argv[i + 1];
  }
  strata::comm::mpi_environment env{argc, argv};
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size < 3) {
    if (rank == 0) std::fprintf(stderr, "ewma_vs_rr needs at least 3 ranks (2 workers)\n");
    return 1;
  }
  double const my_ms = cost_ms * (rank == slow_rank ? slow_factor : 1.0);
  std::map<std::string, double> makespan;
  std::map<std::string, std::map<int, std::size_t>> share;
  auto run = [&](auto selection, std::string const& name) {
    using S = decltype(selection);
    sched::dispatcher<sched::task, sched::fcfs, S> d{MPI_COMM_WORLD, {.max_in_flight = in_flight}, {}, selection};
    std::map<int, std::size_t> by_rank;
    if (d.is_router()) {
      d.on_complete([&](sched::task_id, std::span<const std::byte> r) {
        int w = 0;
        std::memcpy(&w, r.data(), sizeof w);
        ++by_rank[w];
      });
      for (std::size_t i = 0; i < tasks; ++i) d.submit(sched::task{i, {}});
    }
    MPI_Barrier(MPI_COMM_WORLD);
    auto const t0 = std::chrono::steady_clock::now();
    d.run([&](sched::task_context const& c) {
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(my_ms));
      std::vector<std::byte> r(sizeof(int));
      std::memcpy(r.data(), &c.rank, sizeof(int));
      return r;
    });
    makespan[name] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    share[name] = by_rank;
    MPI_Barrier(MPI_COMM_WORLD);
  };
  run(sched::round_robin{}, "round_robin");
  run(sched::ewma_proportional{0.8, 7}, "ewma_proportional");
  run(sched::filter_score{}, "filter_score");
  run(sched::least_loaded{}, "least_loaded");
  if (rank != 0) return 0;
  // the best possible: work spread in proportion to speed
  double speed = 0;
  for (int r = 1; r < size; ++r) speed += 1.0 / (cost_ms * (r == slow_rank ? slow_factor : 1.0));
  double const ideal = static_cast<double>(tasks) / speed / 1000.0;
  std::FILE* js = std::fopen((out + ".json").c_str(), "w");
  std::FILE* csv = std::fopen((out + ".csv").c_str(), "w");
  std::fprintf(csv, "policy,makespan_s,ratio_to_round_robin,slow_rank_share_pct\n");
  std::fprintf(js, "{\n  \"benchmark\": \"ewma_vs_rr\",\n  \"ranks\": %d,\n  \"tasks\": %zu,\n  \"cost_ms\": %.2f,\n"
               "  \"slow_rank\": %d,\n  \"slow_factor\": %.1f,\n  \"max_in_flight\": %u,\n  \"ideal_makespan_s\": %.4f,\n  \"policies\": [\n",
               size, tasks, cost_ms, slow_rank, slow_factor, in_flight, ideal);
  std::size_t k = 0;
  std::printf("%-18s %10s %10s %12s\n", "policy", "makespan s", "vs rr", "slow share");
  for (auto const* name : {"round_robin", "ewma_proportional", "filter_score", "least_loaded"}) {
    double const m = makespan[name], ratio = m / makespan["round_robin"];
    double const slow = 100.0 * static_cast<double>(share[name][slow_rank]) / static_cast<double>(tasks);
    std::printf("%-18s %10.3f %10.3f %11.1f%%\n", name, m, ratio, slow);
    std::fprintf(csv, "%s,%.4f,%.4f,%.2f\n", name, m, ratio, slow);
    std::fprintf(js, "    {\"policy\": \"%s\", \"makespan_s\": %.4f, \"ratio_to_round_robin\": %.4f, \"slow_rank_share_pct\": %.2f}%s\n",
                 name, m, ratio, slow, ++k < 4 ? "," : "");
  }
  std::fprintf(js, "  ]\n}\n");
  std::fclose(js);
  std::fclose(csv);
  std::printf("ideal makespan (work split by speed): %.3f s\n", ideal);
  return 0;
}
