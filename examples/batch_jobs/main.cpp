// batch_jobs: a long batch job that survives being killed (SPEC R10a).
//
// Rank 0 dispatches --items N items of varying cost and priority to the other ranks, which compute
// each item with Thrust (CPU or GPU back end). Every finished item becomes one line `item <id> ...`
// in --out. Kill the job at any moment (or let --crash-at-item do it) and run the same command
// again: it resumes from the queue checkpoint and write-ahead log in --dir, and at the end --out
// holds exactly N lines with N distinct ids. `--verify` checks that.
//
// The fault tests also stop ranks (SIGSTOP, pids in --pid-dir), stall an item forever (--stall-at-item,
// caught by --task-timeout) and read the order in which each worker applied its requests (--apply-log).
//
//   mpiexec -n 4 batch_jobs --items 500 --out items.txt --dir state --priority weighted --select ewma
#include <strata/comm/mpi.hpp>
#include <strata/schedule/dispatcher.hpp>

#include <CLI/CLI.hpp>
#include <thrust/execution_policy.h>
#include <thrust/functional.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/transform_reduce.h>

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#if defined(__CUDACC__)
#define BATCH_HD __host__ __device__
#else
#define BATCH_HD
#endif

namespace sched = strata::schedule;
namespace fs = std::filesystem;

namespace {

struct settings {
  std::size_t items = 200;
  std::string out = "batch_jobs.txt";
  std::string dir = "batch_jobs_state";
  std::string priority = "weighted";
  std::string select = "ewma";
  long crash_at_item = -1;
  int crash_rank = 0;
  long hang_at_item = -1;
  int hang_rank = 1;
  double hang_seconds = 2.0;
  long stall_at_item = -1;
  int stall_rank = 1;
  double task_timeout = 0.0;
  double grace = 60.0;
  std::uint32_t max_in_flight = 2;
  double feed_per_sec = 0.0;
  std::string pid_dir;
  std::string apply_log;
  double heartbeat = 0.1;
  double check_period = 0.2;
  double stale_after = 1.0;
  std::size_t checkpoint_every = 64;
  std::size_t work_scale = 20000;
  double item_sleep_ms = 0.0;
  std::string metrics;
  bool progress = false;
  bool verify = false;
};

std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}
/// Cost (1..10 units) and business level (0..3) of item i: fixed by its id, so a rerun sees the same job.
unsigned cost_of(std::uint64_t i) { return 1 + static_cast<unsigned>(mix(i) % 10); }
unsigned level_of(std::uint64_t i) { return static_cast<unsigned>(mix(i + 7919) % 4); }

struct item_term {
  std::uint64_t id;
  BATCH_HD double operator()(std::uint64_t k) const {
    return static_cast<double>((k * (id + 1)) % 1000) * 0.001;
  }
};
/// The item's work: a reduction of cost * scale terms on Thrust's device system.
double compute(std::uint64_t id, std::size_t scale) {
  std::uint64_t const n = cost_of(id) * scale;
  return thrust::transform_reduce(thrust::device, thrust::counting_iterator<std::uint64_t>(0),
                                  thrust::counting_iterator<std::uint64_t>(n), item_term{id}, 0.0,
                                  thrust::plus<double>());
}
std::string line_of(std::uint64_t id, double value) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "item %llu level %u cost %u value %.3f\n", static_cast<unsigned long long>(id),
                level_of(id), cost_of(id), value);
  return buf;
}

/// The output file, appended to idempotently: an id already present is never written again.
class output {
 public:
  explicit output(fs::path path) : path_(std::move(path)) {
    std::string text;
    if (std::ifstream in{path_, std::ios::binary}) {
      std::stringstream ss;
      ss << in.rdbuf();
      text = ss.str();
    }
    auto const end = text.rfind('\n');
    std::size_t const keep = end == std::string::npos ? 0 : end + 1;
    if (keep < text.size()) {
      std::fprintf(stderr, "batch_jobs: %s ends with a torn line of %zu bytes; cut it off\n", path_.c_str(),
                   text.size() - keep);
      fs::resize_file(path_, keep);
      text.resize(keep);
    }
    std::istringstream lines{text};
    std::string word;
    std::uint64_t id = 0;
    for (std::string l; std::getline(lines, l);) {
      std::istringstream ls{l};
      if (ls >> word >> id && word == "item") ids_.insert(id);
    }
    file_ = std::fopen(path_.c_str(), "ab");
    if (!file_) throw strata::error("batch_jobs: cannot open " + path_.string());
  }
  ~output() {
    if (file_) std::fclose(file_);
  }
  /// Appends the line unless the id is already there; returns whether it wrote.
  bool add(std::uint64_t id, std::string const& line) {
    if (!ids_.insert(id).second) return false;
    std::fwrite(line.data(), 1, line.size(), file_);
    std::fflush(file_);
    return true;
  }
  void sync() {
    std::fflush(file_);
    ::fsync(::fileno(file_));
  }
  [[nodiscard]] std::size_t size() const { return ids_.size(); }

 private:
  fs::path path_;
  std::FILE* file_ = nullptr;
  std::set<std::uint64_t> ids_;
};

/// Marker so that "crash after K" happens once, and the rerun of the same command resumes.
bool fault_armed(settings const& s, char const* what) {
  return !fs::exists(fs::path(s.dir) / (std::string(what) + "-injected"));
}
void fault_fired(settings const& s, char const* what) {
  std::ofstream(fs::path(s.dir) / (std::string(what) + "-injected")) << "1\n";
}

template <class Priority, class Selection>
int run_job(settings const& s, int rank) {
  sched::dispatcher_options o;
  o.directory = fs::path(s.dir);
  o.heartbeat_period = sched::seconds{s.heartbeat};
  o.health = {.max_consecutive_failures = 3, .stale_after = sched::seconds{s.stale_after},
              .check_period = sched::seconds{s.check_period}};
  o.backoff = {.base = sched::seconds{0.02}, .cap = sched::seconds{0.5}};
  o.checkpoint_every = s.checkpoint_every;
  o.max_in_flight = s.max_in_flight;
  o.task_timeout = sched::seconds{s.task_timeout};
  o.lost_worker_grace = sched::seconds{s.grace};
  o.progress = s.progress;
  if (!s.metrics.empty()) o.metrics_file = s.metrics, o.metrics_period = sched::seconds{1.0};
  sched::dispatcher<sched::task, Priority, Selection> d{MPI_COMM_WORLD, o};

  std::optional<output> out;
  std::size_t applied_this_run = 0;
  if (d.is_router()) {
    fs::create_directories(s.dir);
    out.emplace(s.out);
    d.on_complete([&](sched::task_id id, std::span<const std::byte> r) {
      if (rank == s.crash_rank && s.crash_at_item >= 0 && fault_armed(s, "crash") &&
          static_cast<long>(applied_this_run) >= s.crash_at_item) {
        fault_fired(s, "crash");
        std::fprintf(stderr, "batch_jobs: fault injection: SIGKILL on rank 0 after %zu items (item %llu is logged "
                     "but not yet in the output)\n", applied_this_run, static_cast<unsigned long long>(id));
        std::fflush(stderr);
        std::raise(SIGKILL);
      }
      double value = 0;
      std::memcpy(&value, r.data(), std::min(r.size(), sizeof value));
      if (out->add(id, line_of(id, value))) ++applied_this_run;
    });
    d.on_failure([&](sched::task_id id, std::string_view why) {
      std::fprintf(stderr, "batch_jobs: item %llu failed for good: %.*s\n", static_cast<unsigned long long>(id),
                   static_cast<int>(why.size()), why.data());
    });
    d.before_checkpoint([&] { out->sync(); });
    auto const known = d.recover();
    if (known > 0) std::fprintf(stderr, "batch_jobs: resuming, %zu of %zu items already done\n", known, s.items);
    auto submit = [&](std::uint64_t i) {
      double const demand = cost_of(i) / 10.0;
      d.submit(sched::task{i, {}, {.business_level = double(level_of(i)), .resource_demand = demand}});
    };
    if (s.feed_per_sec > 0) {  // items arrive over time, as from a stream
      auto const t0 = sched::clock::now();
      d.feed([&s, submit, t0, next = std::uint64_t{0}](sched::clock::time_point now) mutable {
        auto const due = static_cast<std::uint64_t>(std::chrono::duration<double>(now - t0).count() * s.feed_per_sec);
        for (; next < s.items && next <= due; ++next) submit(next);
        return next < s.items;
      });
    } else {
      for (std::uint64_t i = 0; i < s.items; ++i) submit(i);
    }
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> applied{nullptr, &std::fclose};
  if (!s.apply_log.empty() && rank != 0) {
    fs::create_directories(s.apply_log);
    applied.reset(std::fopen((fs::path(s.apply_log) / ("rank" + std::to_string(rank))).c_str(), "a"));
  }
  std::size_t done_by_me = 0;
  if (!s.pid_dir.empty()) {
    fs::create_directories(s.pid_dir);
    std::ofstream(fs::path(s.pid_dir) / ("rank" + std::to_string(rank) + ".pid")) << ::getpid() << "\n";
  }
  auto const summary = d.run([&](sched::task_context const& c) {
    if (rank == s.crash_rank && rank != 0 && s.crash_at_item >= 0 && static_cast<long>(done_by_me) >= s.crash_at_item &&
        fault_armed(s, "crash")) {
      fault_fired(s, "crash");
      std::fprintf(stderr, "batch_jobs: fault injection: SIGKILL on worker rank %d after %zu items, mid-item %llu\n",
                   rank, done_by_me, static_cast<unsigned long long>(c.id));
      std::fflush(stderr);
      std::raise(SIGKILL);
    }
    if (rank == s.hang_rank && s.hang_at_item >= 0 && static_cast<long>(done_by_me) == s.hang_at_item &&
        fault_armed(s, "hang")) {
      fault_fired(s, "hang");
      d.simulate_hang(sched::seconds{s.hang_seconds});
    }
    if (applied) {  // "sequence id attempt", in the order this worker applies its requests
      std::fprintf(applied.get(), "%llu %llu %u\n", static_cast<unsigned long long>(c.sequence),
                   static_cast<unsigned long long>(c.id), c.attempt);
      std::fflush(applied.get());
    }
    if (rank == s.stall_rank && s.stall_at_item >= 0 && static_cast<long>(done_by_me) == s.stall_at_item &&
        fault_armed(s, "stall")) {
      fault_fired(s, "stall");
      std::fprintf(stderr, "batch_jobs: fault injection: rank %d stalls forever in item %llu (heartbeats go on)\n",
                   rank, static_cast<unsigned long long>(c.id));
      std::fflush(stderr);
      for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
    }
    double const v = compute(c.id, s.work_scale);
    if (s.item_sleep_ms > 0)  // waiting on I/O, as many batch items do
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(s.item_sleep_ms));
    ++done_by_me;
    std::vector<std::byte> r(sizeof v);
    std::memcpy(r.data(), &v, sizeof v);
    return r;
  });
  if (d.is_router()) {
    out->sync();
    std::printf("batch_jobs: %zu/%zu items done (%zu this run, %zu replayed from the log), %zu failed, "
                "%zu workers declared dead, %zu stale answers dropped, %zu attempts timed out, %zu requests resent; "
                "output %s has %zu lines\n",
                summary.succeeded, s.items, summary.completed_this_run, summary.replayed, summary.failed,
                summary.workers_declared_dead, summary.stale_dropped, summary.attempts_timed_out,
                summary.requests_resent, s.out.c_str(), out->size());
  }
  return 0;
}

template <class Priority>
int pick_selection(settings const& s, int rank) {
  if (s.select == "rr") return run_job<Priority, sched::round_robin>(s, rank);
  if (s.select == "least") return run_job<Priority, sched::least_loaded>(s, rank);
  if (s.select == "score") return run_job<Priority, sched::filter_score>(s, rank);
  return run_job<Priority, sched::ewma_proportional>(s, rank);
}

/// --verify: exactly N lines, N distinct ids 0..N-1, each with the right value.
int verify(settings const& s) {
  std::ifstream in{s.out};
  std::set<std::uint64_t> ids;
  std::size_t lines = 0, bad = 0;
  for (std::string l; std::getline(in, l); ++lines) {
    std::istringstream ls{l};
    std::string word;
    std::uint64_t id = 0;
    if (!(ls >> word >> id) || word != "item" || id >= s.items) {
      ++bad;
      continue;
    }
    if (line_of(id, compute(id, s.work_scale)) != l + "\n") ++bad;
    ids.insert(id);
  }
  bool const ok = lines == s.items && ids.size() == s.items && bad == 0;
  std::printf("verify: %s: %zu lines, %zu distinct ids, %zu bad lines (expected %zu)\n", ok ? "OK" : "FAILED", lines,
              ids.size(), bad, s.items);
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  settings s;
  CLI::App app{"batch_jobs: a restartable batch job over strata's dispatcher"};
  app.add_option("--items", s.items, "Number of items");
  app.add_option("--out", s.out, "Output file, one line per finished item");
  app.add_option("--dir", s.dir, "State directory (write-ahead log, queue checkpoints)");
  app.add_option("--priority", s.priority, "fcfs | static | weighted")->check(CLI::IsMember({"fcfs", "static", "weighted"}));
  app.add_option("--select", s.select, "rr | least | score | ewma")->check(CLI::IsMember({"rr", "least", "score", "ewma"}));
  app.add_option("--crash-at-item", s.crash_at_item, "Kill --crash-rank with SIGKILL after this many items (once)");
  app.add_option("--crash-rank", s.crash_rank, "Rank to kill (0 = the dispatcher)");
  app.add_option("--hang-at-item", s.hang_at_item, "Make --hang-rank hang without heartbeats after this many items (once)");
  app.add_option("--hang-rank", s.hang_rank, "Worker rank to hang");
  app.add_option("--hang-seconds", s.hang_seconds, "How long it hangs");
  app.add_option("--stall-at-item", s.stall_at_item, "Make --stall-rank stall forever in this item (once; heartbeats go on)");
  app.add_option("--stall-rank", s.stall_rank, "Worker rank to stall");
  app.add_option("--task-timeout", s.task_timeout, "Per-attempt timeout, seconds (0: off)");
  app.add_option("--grace", s.grace, "A worker unhealthy this long ends the job (0: wait forever)");
  app.add_option("--max-in-flight", s.max_in_flight, "Tasks a worker may hold at once");
  app.add_option("--feed-per-sec", s.feed_per_sec, "Submit items at this rate while running (0: all at the start)");
  app.add_option("--pid-dir", s.pid_dir, "Each rank writes its pid to <dir>/rank<R>.pid");
  app.add_option("--apply-log", s.apply_log, "Each worker appends 'sequence id attempt' per applied request to <dir>/rank<R>");
  app.add_option("--heartbeat", s.heartbeat, "Heartbeat period, seconds");
  app.add_option("--check-period", s.check_period, "Health check period, seconds");
  app.add_option("--stale-after", s.stale_after, "A worker is dead after >3 failed checks and this long silent");
  app.add_option("--checkpoint-every", s.checkpoint_every, "Items between queue checkpoints");
  app.add_option("--work-scale", s.work_scale, "Terms per cost unit of an item's reduction");
  app.add_option("--item-sleep-ms", s.item_sleep_ms, "Extra wait per item (simulated I/O)");
  app.add_option("--metrics", s.metrics, "Prometheus text file, rewritten every second");
  app.add_flag("--progress", s.progress, "Print a progress line");
  app.add_flag("--verify", s.verify, "Only check --out: exactly --items lines with distinct ids and right values");
  CLI11_PARSE(app, argc, argv);
  if (s.verify) return verify(s);

  strata::comm::mpi_environment env{argc, argv};
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  try {
    if (s.priority == "fcfs") return pick_selection<sched::fcfs>(s, rank);
    if (s.priority == "static") return pick_selection<sched::static_priority>(s, rank);
    return pick_selection<sched::weighted_ageing>(s, rank);
  } catch (std::exception const& e) {
    std::fprintf(stderr, "batch_jobs[rank %d]: error: %s\n", rank, e.what());
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  return 2;
}
