#pragma once
// A random task-flow program whose every task checks that it sees the writer that precedes it in
// program order (tests/unit/dag and tests/mpi/dag share it).
#include <strata/dag/task_flow.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace strata::test {

using namespace strata::dag;

inline void busy_for(std::chrono::microseconds d) {
  auto const end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end) std::this_thread::yield();
}

// A random program over `nh` handles: every task reads up to two handles and writes or updates one.
// Each handle holds {id of the task that wrote it last, check value}; a task checks that every value it
// reads was written by the writer that precedes it in program order (tracked here while submitting) and
// then stamps what it writes. A missing RAW edge shows as an older writer, a missing WAR edge as a newer
// one, a missing WAW edge as a wrong final writer. Bodies take 0-150 us so that tasks overlap.
// `boom_at` >= 0: that task throws instead.
struct versioned_program {
  static constexpr std::uint64_t none = ~0ull;
  std::vector<std::vector<std::uint64_t>> cells;  // per handle: {writer, value}
  std::vector<std::uint64_t> expect_final;
  std::atomic<int> wrong{0};
  std::mutex ran_m;
  std::set<std::thread::id> ran_on;  // the threads that ran this rank's tasks

  // What breaks the rule of a run with `workers` and `progress_thread` on the threads that ran the tasks,
  // seen from the calling thread ("" when none): at most `workers` threads; never the calling thread with
  // a progress thread; with one worker and none, the calling thread alone (a rank that ran no task breaks
  // nothing).
  [[nodiscard]] std::string thread_rule_broken(int workers, bool progress_thread) {
    std::lock_guard lk(ran_m);
    if (ran_on.empty()) return "";
    if (ran_on.size() > static_cast<std::size_t>(workers))
      return std::to_string(ran_on.size()) + " threads ran tasks, more than " + std::to_string(workers) + " workers";
    bool const caller = ran_on.contains(std::this_thread::get_id());
    if (progress_thread && caller) return "the calling thread ran tasks beside its progress thread";
    if (!progress_thread && workers == 1 && !caller) return "with one worker, a thread other than the caller ran tasks";
    return "";
  }

  template <class Flow>
  void submit_all(Flow& flow, int nh, int tasks, int ranks, std::uint64_t seed, int boom_at = -1) {
    cells.assign(static_cast<std::size_t>(nh), {none, none * 7 + 1});
    std::vector<data_handle<std::uint64_t>> h;
    for (int i = 0; i < nh; ++i)
      h.push_back(flow.register_data("h" + std::to_string(i), cells[static_cast<std::size_t>(i)], {.home = i % ranks}));
    std::vector<std::uint64_t> last(static_cast<std::size_t>(nh), none);
    auto next = [&] { return seed = seed * 6364136223846793005ull + 1442695040888963407ull, seed >> 33; };
    for (int t = 0; t < tasks; ++t) {
      auto const out = static_cast<std::size_t>(next() % static_cast<std::uint64_t>(nh));
      auto const in1 = static_cast<std::size_t>(next() % static_cast<std::uint64_t>(nh));
      auto const us = std::chrono::microseconds(next() % 150);
      auto const id = static_cast<std::uint64_t>(t);
      auto const e_out = last[out], e_in = last[in1];
      bool const boom = t == boom_at;
      auto check = [this, boom](std::span<std::uint64_t const> c, std::uint64_t writer) {
        {
          std::lock_guard lk(ran_m);
          ran_on.insert(std::this_thread::get_id());
        }
        if (boom) throw std::runtime_error("injected failure");
        if (c[0] != writer || c[1] != writer * 7 + 1) ++wrong;
      };
      std::string const name = boom ? "boom" : "t" + std::to_string(t);
      if (in1 == out) {  // update in place
        flow.submit({.name = name, .cost = 1e-5 * static_cast<double>(us.count() + 1)},
                    [=](std::span<std::uint64_t> c) {
                      check(c, e_out);
                      busy_for(us);
                      c[0] = id, c[1] = id * 7 + 1;
                    },
                    readwrite(h[out]));
      } else if (next() % 2) {  // read one, overwrite another
        flow.submit({.name = name, .cost = 1e-5 * static_cast<double>(us.count() + 1)},
                    [=](std::span<std::uint64_t const> a, std::span<std::uint64_t> c) {
                      check(a, e_in);
                      busy_for(us);
                      c[0] = id, c[1] = id * 7 + 1;
                    },
                    read(h[in1]), write(h[out]));
      } else {  // read one, update another
        flow.submit({.name = name, .cost = 1e-5 * static_cast<double>(us.count() + 1)},
                    [=](std::span<std::uint64_t const> a, std::span<std::uint64_t> c) {
                      check(a, e_in);
                      check(c, e_out);
                      busy_for(us);
                      c[0] = id, c[1] = id * 7 + 1;
                    },
                    read(h[in1]), readwrite(h[out]));
      }
      last[out] = id;
    }
    expect_final = last;
  }
  // Handles whose home is `me` that do not hold their last writer's value after the run.
  [[nodiscard]] std::uint64_t wrong_at_home(int me, int ranks) const {
    std::uint64_t bad = 0;
    for (std::size_t i = 0; i < cells.size(); ++i)
      if (static_cast<int>(i) % ranks == me) bad += cells[i][0] != expect_final[i] || cells[i][1] != expect_final[i] * 7 + 1;
    return bad;
  }
  [[nodiscard]] int wrong_final() const {
    int bad = 0;
    for (std::size_t i = 0; i < cells.size(); ++i) bad += cells[i][0] != expect_final[i];
    return bad;
  }
};

}  // namespace strata::test
