// ewma_vs_rr: worker selection under tasks that arrive over time on workers of different speeds.
//
// Tasks arrive as a seeded Poisson stream at a chosen share of the total capacity (70 % and 90 % by
// default); each task has a random size (exponential, mean --cost-ms) and takes size x slow-factor on a
// slowed worker. Every policy (round_robin, least_loaded, filter_score, ewma_proportional) sees the same
// arrival stream, side by side in one run; reported per policy: mean and p99 response time (arrival to
// result) and makespan (first arrival to last result), each also as a ratio to round_robin.
//
// Two modes:
//   --mode mpi (default; under mpiexec, >= 3 ranks): the real dispatcher; rank 0 submits each task at its
//       arrival time through dispatcher::feed, workers sleep for the task's time (so an oversubscribed
//       2-core machine does not blur the speeds). Short: 8 runs of --tasks each.
//   --mode sim (one process, no MPI): a discrete-event simulation on a simulated clock that drives the real
//       selection policy objects through the same worker_status updates as the dispatcher (in-flight cap,
//       latency EWMA 0.8, per-worker FIFO), for more workers, more tasks, and a sweep of the in-flight cap.
//
//   mpiexec -n 4 bench_ewma_vs_rr [--tasks 1200] [--cost-ms 4] [--slow-ranks 1] [--slow-factor 4]
//                                 [--in-flight 4] [--loads 0.7,0.9] [--seed 1] [--out ewma_vs_rr]
//   bench_ewma_vs_rr --mode sim [--workers 16] [--slow-workers 4] [--slow-factor 4] [--tasks 200000]
//                               [--in-flight-list 1,4,16] [--loads 0.5,0.7,0.9] [--out ewma_vs_rr_sim]
#include <strata/comm/mpi.hpp>
#include <strata/schedule/dispatcher.hpp>
#include <strata/schedule/selection.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <queue>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace sched = strata::schedule;

namespace {

std::vector<double> parse_list(std::string const& s) {
  std::vector<double> v;
  std::stringstream ss{s};
  std::string item;
  while (std::getline(ss, item, ',')) v.push_back(std::stod(item));
  return v;
}

struct arrival {
  double at_s;  // arrival time from the start
  double size;  // work in units of cost (exponential, mean 1)
};

/// The seeded Poisson stream: rate = load * capacity, capacity = sum over workers of 1 / (cost * slowdown).
std::vector<arrival> arrivals(std::size_t n, double rate_per_s, std::uint64_t seed) {
  std::mt19937_64 rng{seed};
  std::exponential_distribution<double> gap{rate_per_s}, size{1.0};
  std::vector<arrival> a(n);
  double t = 0;
  for (auto& x : a) {
    t += gap(rng);
    x = {t, size(rng)};
  }
  return a;
}

struct outcome {
  std::string policy;
  double load = 0, mean_s = 0, p99_s = 0, makespan_s = 0, slow_share = 0;
  std::uint32_t in_flight = 0;
};

outcome summarise(std::string policy, double load, std::uint32_t in_flight, std::vector<double> response,
                  double makespan, double slow_share) {
  outcome o{std::move(policy), load};
  o.in_flight = in_flight;
  double sum = 0;
  for (double r : response) sum += r;
  o.mean_s = sum / static_cast<double>(response.size());
  std::sort(response.begin(), response.end());
  o.p99_s = response[static_cast<std::size_t>(0.99 * static_cast<double>(response.size() - 1))];
  o.makespan_s = makespan;
  o.slow_share = slow_share;
  return o;
}

char const* const policy_names[] = {"round_robin", "least_loaded", "filter_score", "ewma_proportional"};

/// Calls f(policy object, name) for each policy, in the order of policy_names.
template <class F>
void for_each_policy(std::uint64_t seed, F&& f) {
  f(sched::round_robin{}, policy_names[0]);
  f(sched::least_loaded{}, policy_names[1]);
  f(sched::filter_score{}, policy_names[2]);
  f(sched::ewma_proportional{0.8, seed}, policy_names[3]);
}

void write_results(std::string const& out, std::string const& header_json, std::vector<outcome> const& rs) {
  std::FILE* js = std::fopen((out + ".json").c_str(), "w");
  std::FILE* csv = std::fopen((out + ".csv").c_str(), "w");
  std::fprintf(csv, "load,in_flight,policy,mean_ms,p99_ms,makespan_s,mean_vs_rr,p99_vs_rr,makespan_vs_rr,slow_share_pct\n");
  std::fprintf(js, "{\n%s  \"results\": [\n", header_json.c_str());
  std::printf("%5s %4s %-18s %9s %9s %10s %8s %8s %9s %7s\n", "load", "cap", "policy", "mean ms", "p99 ms",
              "makespan", "mean/rr", "p99/rr", "mkspn/rr", "slow%");
  for (std::size_t i = 0; i < rs.size(); ++i) {
    auto const& r = rs[i];
    outcome const* rr = nullptr;
    for (auto const& x : rs)
      if (x.load == r.load && x.in_flight == r.in_flight && x.policy == "round_robin") rr = &x;
    double const m = r.mean_s / rr->mean_s, p = r.p99_s / rr->p99_s, k = r.makespan_s / rr->makespan_s;
    std::printf("%5.2f %4u %-18s %9.2f %9.2f %10.3f %8.3f %8.3f %9.3f %6.1f%%\n", r.load, r.in_flight,
                r.policy.c_str(), 1e3 * r.mean_s, 1e3 * r.p99_s, r.makespan_s, m, p, k, 100 * r.slow_share);
    std::fprintf(csv, "%.2f,%u,%s,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.2f\n", r.load, r.in_flight, r.policy.c_str(),
                 1e3 * r.mean_s, 1e3 * r.p99_s, r.makespan_s, m, p, k, 100 * r.slow_share);
    std::fprintf(js,
                 "    {\"load\": %.2f, \"in_flight\": %u, \"policy\": \"%s\", \"mean_ms\": %.4f, \"p99_ms\": %.4f, "
                 "\"makespan_s\": %.4f, \"mean_vs_round_robin\": %.4f, \"p99_vs_round_robin\": %.4f, "
                 "\"makespan_vs_round_robin\": %.4f, \"slow_share_pct\": %.2f}%s\n",
                 r.load, r.in_flight, r.policy.c_str(), 1e3 * r.mean_s, 1e3 * r.p99_s, r.makespan_s, m, p, k,
                 100 * r.slow_share, i + 1 < rs.size() ? "," : "");
  }
  std::fprintf(js, "  ]\n}\n");
  std::fclose(js);
  std::fclose(csv);
}

// ---------------------------------------------------------------------------------------------------------
// Simulated clock, real policy objects.

template <class Selection>
outcome simulate(Selection sel, char const* name, std::vector<arrival> const& as, std::vector<double> const& slow,
                 double cost_s, std::uint32_t cap, double load) {
  std::size_t const W = slow.size();
  std::vector<sched::worker_status> ws(W);
  for (std::size_t i = 0; i < W; ++i) ws[i].rank = static_cast<int>(i + 1);
  std::vector<double> busy_until(W, 0.0);  // when the worker's local FIFO drains
  struct done_ev {
    double at;
    std::size_t worker, task;
    double assigned;
    bool operator>(done_ev const& o) const { return at > o.at; }
  };
  std::priority_queue<done_ev, std::vector<done_ev>, std::greater<>> done;
  std::deque<std::size_t> ready;  // FIFO at the dispatcher
  std::vector<double> response(as.size());
  std::size_t next = 0, finished = 0, on_slow = 0;
  double last = 0;
  auto dispatch = [&](double now) {
    while (!ready.empty()) {
      auto const w = sel.select(sched::worker_view(ws), {});
      if (!w) return;
      std::size_t const t = ready.front();
      ready.pop_front();
      double const start = std::max(now, busy_until[*w]);
      busy_until[*w] = start + as[t].size * cost_s * slow[*w];
      done.push({busy_until[*w], *w, t, now});
      on_slow += slow[*w] > 1.0;
      auto& s = ws[*w];
      s.in_flight += 1;
      s.available = s.in_flight < cap;
      sel.update(sched::worker_view(ws), *w);
    }
  };
  while (finished < as.size()) {
    bool const take_arrival = next < as.size() && (done.empty() || as[next].at_s <= done.top().at);
    double now;
    if (take_arrival) {
      now = as[next].at_s;
      ready.push_back(next++);
    } else {
      auto const e = done.top();
      done.pop();
      now = e.at;
      auto& s = ws[e.worker];
      double const r = now - e.assigned;  // what the dispatcher measures: assignment to result
      s.in_flight -= 1;
      s.available = s.in_flight < cap;
      s.last_response_s = r;
      s.latency_s = s.responses == 0 ? r : 0.8 * r + 0.2 * s.latency_s;
      s.responses += 1;
      sel.update(sched::worker_view(ws), e.worker);
      response[e.task] = now - as[e.task].at_s;
      last = now;
      ++finished;
    }
    dispatch(now);
  }
  return summarise(name, load, cap, std::move(response), last - as.front().at_s,
                   static_cast<double>(on_slow) / static_cast<double>(as.size()));
}

int run_sim(int argc, char** argv) {
  std::size_t tasks = 200000, workers = 16, slow_workers = 4;
  double cost_ms = 4.0, slow_factor = 4.0;
  std::vector<double> loads{0.5, 0.7, 0.9}, caps{1, 4, 16};
  std::uint64_t seed = 1;
  std::string out = "ewma_vs_rr_sim";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string const a = argv[i];
    if (a == "--tasks") tasks = std::stoul(argv[i + 1]);
    else if (a == "--workers") workers = std::stoul(argv[i + 1]);
    else if (a == "--slow-workers") slow_workers = std::stoul(argv[i + 1]);
    else if (a == "--cost-ms") cost_ms = std::stod(argv[i + 1]);
    else if (a == "--slow-factor") slow_factor = std::stod(argv[i + 1]);
    else if (a == "--loads") loads = parse_list(argv[i + 1]);
    else if (a == "--in-flight-list") caps = parse_list(argv[i + 1]);
    else if (a == "--seed") seed = std::stoull(argv[i + 1]);
    else if (a == "--out") out = argv[i + 1];
  }
  std::vector<double> slow(workers, 1.0);
  for (std::size_t i = 0; i < std::min(slow_workers, workers); ++i) slow[i] = slow_factor;
  double capacity = 0;
  for (double f : slow) capacity += 1.0 / (cost_ms * 1e-3 * f);
  std::vector<outcome> rs;
  for (double cap : caps)
    for (double load : loads) {
      auto const as = arrivals(tasks, load * capacity, seed);
      for_each_policy(seed, [&](auto sel, char const* name) {
        rs.push_back(simulate(sel, name, as, slow, cost_ms * 1e-3, static_cast<std::uint32_t>(cap), load));
      });
    }
  char head[512];
  std::snprintf(head, sizeof head,
                "  \"benchmark\": \"ewma_vs_rr\",\n  \"mode\": \"simulated clock, real selection policies\",\n"
                "  \"workers\": %zu,\n  \"slow_workers\": %zu,\n  \"slow_factor\": %.2f,\n  \"tasks\": %zu,\n"
                "  \"mean_cost_ms\": %.3f,\n  \"capacity_tasks_per_s\": %.2f,\n  \"seed\": %llu,\n",
                workers, slow_workers, slow_factor, tasks, cost_ms, capacity, static_cast<unsigned long long>(seed));
  write_results(out, head, rs);
  return 0;
}

// ---------------------------------------------------------------------------------------------------------
// The real MPI dispatcher.

int run_mpi(int argc, char** argv) {
  std::size_t tasks = 1200;
  double cost_ms = 4.0, slow_factor = 4.0;
  std::vector<double> loads{0.7, 0.9}, slow_list{1};
  std::uint32_t in_flight = 4;
  std::uint64_t seed = 1;
  std::string out = "ewma_vs_rr";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string const a = argv[i];
    if (a == "--tasks") tasks = std::stoul(argv[i + 1]);
    else if (a == "--cost-ms") cost_ms = std::stod(argv[i + 1]);
    else if (a == "--slow-ranks") slow_list = parse_list(argv[i + 1]);
    else if (a == "--slow-factor") slow_factor = std::stod(argv[i + 1]);
    else if (a == "--in-flight") in_flight = static_cast<std::uint32_t>(std::stoul(argv[i + 1]));
    else if (a == "--loads") loads = parse_list(argv[i + 1]);
    else if (a == "--seed") seed = std::stoull(argv[i + 1]);
    else if (a == "--out") out = argv[i + 1];
  }
  strata::comm::mpi_environment env{argc, argv};
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size < 3) {
    if (rank == 0) std::fprintf(stderr, "ewma_vs_rr --mode mpi needs at least 3 ranks (2 workers)\n");
    return 1;
  }
  auto slowdown = [&](int r) {
    return std::find(slow_list.begin(), slow_list.end(), static_cast<double>(r)) != slow_list.end() ? slow_factor : 1.0;
  };
  double capacity = 0;
  for (int r = 1; r < size; ++r) capacity += 1.0 / (cost_ms * 1e-3 * slowdown(r));
  double const my_ms = cost_ms * slowdown(rank);
  std::vector<outcome> rs;
  for (double load : loads) {
    auto const as = arrivals(tasks, load * capacity, seed);
    for_each_policy(seed, [&](auto selection, char const* name) {
      using S = decltype(selection);
      sched::dispatcher<sched::task, sched::fcfs, S> d{MPI_COMM_WORLD, {.max_in_flight = in_flight}, {}, selection};
      std::vector<double> response(tasks, 0.0);
      std::size_t on_slow = 0, fed = 0;
      MPI_Barrier(MPI_COMM_WORLD);
      auto const t0 = sched::clock::now();
      auto const since = [&](sched::clock::time_point t) { return std::chrono::duration<double>(t - t0).count(); };
      double last = 0;
      if (d.is_router()) {
        d.on_complete([&](sched::task_id id, std::span<const std::byte> r) {
          int w = 0;
          std::memcpy(&w, r.data(), sizeof w);
          on_slow += slowdown(w) > 1.0;
          last = since(sched::clock::now());
          response[id] = last - as[id].at_s;  // from the scheduled arrival, so late submission counts
        });
        d.feed([&](sched::clock::time_point now) {
          double const t = since(now);
          while (fed < tasks && as[fed].at_s <= t) {
            std::vector<std::byte> payload(sizeof(double));
            std::memcpy(payload.data(), &as[fed].size, sizeof(double));
            d.submit(sched::task{fed, std::move(payload)});
            ++fed;
          }
          return fed < tasks;
        });
      }
      d.run([&](sched::task_context const& c) {
        double x = 0;
        std::memcpy(&x, c.payload.data(), sizeof x);
        std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(my_ms * x));
        std::vector<std::byte> r(sizeof(int));
        std::memcpy(r.data(), &c.rank, sizeof(int));
        return r;
      });
      if (d.is_router())
        rs.push_back(summarise(name, load, in_flight, std::move(response), last - as.front().at_s,
                               static_cast<double>(on_slow) / static_cast<double>(tasks)));
      MPI_Barrier(MPI_COMM_WORLD);
    });
  }
  if (rank != 0) return 0;
  std::string slow_json;
  for (double r : slow_list) slow_json += (slow_json.empty() ? "" : ", ") + std::to_string(static_cast<int>(r));
  char head[768];
  std::snprintf(head, sizeof head,
                "  \"benchmark\": \"ewma_vs_rr\",\n  \"mode\": \"MPI dispatcher, sleeping tasks\",\n  \"ranks\": %d,\n"
                "  \"slow_ranks\": [%s],\n  \"slow_factor\": %.2f,\n  \"tasks_per_run\": %zu,\n  \"mean_cost_ms\": %.3f,\n"
                "  \"capacity_tasks_per_s\": %.2f,\n  \"max_in_flight\": %u,\n  \"seed\": %llu,\n",
                size, slow_json.c_str(), slow_factor, tasks, cost_ms, capacity, in_flight,
                static_cast<unsigned long long>(seed));
  write_results(out, head, rs);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i)
    if (!std::strcmp(argv[i], "--mode") && !std::strcmp(argv[i + 1], "sim")) return run_sim(argc, argv);
  return run_mpi(argc, argv);
}
