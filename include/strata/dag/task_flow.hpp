#pragma once
/// \file
/// \brief `dag::task_flow`: tasks submitted in program order with the data they access; dependencies
/// inferred (RAW, WAR, WAW); run by a pool of workers per rank, ready tasks by priority, transfers
/// between ranks overlapped with compute (SPEC S4, S9).

#include <strata/comm/agree.hpp>
#include <strata/comm/mpi.hpp>
#include <strata/comm/solo.hpp>
#include <strata/dag/access.hpp>
#include <strata/dag/detail/flow_bodies.hpp>
#include <strata/dag/detail/flow_runtime.hpp>
#include <strata/dag/device.hpp>
#include <strata/dag/flow_error.hpp>
#include <strata/dag/flow_options.hpp>
#include <strata/dag/flow_placement.hpp>
#include <strata/dag/graph.hpp>
#include <strata/dag/resume.hpp>

#include <mpi.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace strata::dag {

namespace detail {
inline std::uint64_t mix(std::uint64_t h, std::uint64_t v) noexcept {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xbf58476d1ce4e5b9ull;
}
inline std::uint64_t mix(std::uint64_t h, std::string const& s) noexcept {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return mix(h, s.size());
}
}  // namespace detail

/// \brief A sequential task flow: register data, submit tasks in program order with their accesses,
/// then `run` (collective: every rank submits the same flow). Each rank runs the tasks placed on it by
/// `Placement` with `workers` threads, ready tasks first by priority (HEFT's upward rank); inputs held
/// by other ranks arrive by non-blocking MPI while the workers compute. After `run` every handle's value
/// is in its home rank's buffer; the flow is empty again and can take the next batch.
///
/// \code
/// strata::dag::task_flow<> flow{{.workers = 2}};                        // planned<heft>
/// auto a = flow.register_data("a", va);                                 // std::vector<double>, home rank 0
/// auto b = flow.register_data("b", vb, {.home = 1});
/// flow.submit({.name = "scale", .cost = 1e-4},
///             [](std::span<const double> x, std::span<double> y) { for (std::size_t i = 0; i < y.size(); ++i) y[i] = 2 * x[i]; },
///             strata::dag::read(a), strata::dag::write(b));
/// auto res = flow.run(world);                                           // b's home buffer holds 2 a
/// \endcode
template <class Placement = planned<heft>>
class task_flow {
  static_assert(flow_placement<Placement>,
                "dag::task_flow<P>: P must model dag::flow_placement: a regular type with "
                "std::vector<int> assign(flow_plan_input const&) const and name() (see planned<heft>, locality)");

 public:
  explicit task_flow(flow_options options = {}, Placement placement = {}) : options_(options), placement_(placement) {
    if (options_.workers < 1)
      throw usage_error("dag::task_flow: needs at least one worker per rank, got " + std::to_string(options_.workers));
    if (options_.devices < 0)
      throw usage_error("dag::task_flow: flow_options::devices must be 0 or more, got " + std::to_string(options_.devices));
  }

  /// \brief Registers a contiguous buffer of trivially copyable `T` (`std::vector`, `thrust::host_vector`,
  /// `std::array`, a `std::span` over one tile, ...). Every rank registers a buffer of the same size: the
  /// home rank's holds the value, the others receive copies when a task runs there.
  template <class R>
  auto register_data(std::string name, R&& range, data_options opt = {}) {
    static_assert(std::is_lvalue_reference_v<R> || std::ranges::view<std::remove_cvref_t<R>>,
                  "dag::task_flow::register_data: pass a buffer that outlives the run (an lvalue or a span), not a temporary");
    using T = std::remove_pointer_t<decltype(std::data(range))>;
    static_assert(std::is_trivially_copyable_v<T> && !std::is_const_v<T>,
                  "dag::task_flow::register_data: the buffer must hold writable, trivially copyable elements");
    if (opt.home < 0) throw usage_error("dag::task_flow: handle '" + name + "' has home rank " + std::to_string(opt.home));
    auto const bytes = std::as_writable_bytes(std::span<T>(std::data(range), std::size(range)));
    handles_.push_back({std::move(name), bytes, opt.home, opt.initialized});
    return data_handle<T>(handles_.size() - 1);
  }

  /// \brief Unregisters `h`; refused (naming the task) while a submitted task still uses it.
  template <class T>
  void unregister_data(data_handle<T> h) {
    auto& rec = checked(h.id(), "unregister_data");
    for (task_id t = 0; t < tasks_.size(); ++t)
      for (auto const& a : tasks_[t].accesses)
        if (a.handle == h.id())
          throw flow_error("dag::task_flow: handle '" + rec.name + "' cannot be unregistered: task '" + graph_.at(t).name +
                               "' (submitted, not yet run) uses it",
                           graph_.at(t).name, rec.name);
    rec.registered = false;
    rec.bytes = {};
  }

  /// \brief Submits a task: `fn` is called with `std::span<const T>` for each `read(h)` and `std::span<T>`
  /// for each `write(h)` / `readwrite(h)`, in declaration order. `on_device(f)` instead: a device worker
  /// runs `f` with `device_view<const T>` / `device_view<T>`; `cpu_or_device(f, g)`: either kind of worker
  /// (`dag/device.hpp`). Returns its id (program order).
  template <class Fn, class... A>
  task_id submit(task_options opt, Fn&& fn, A... accesses) {
    static_assert((detail::is_access<A>::value && ...),
                  "dag::task_flow::submit: after the task function pass only read(h), write(h) or readwrite(h)");
    std::vector<data_access> acc = {data_access{accesses.handle.id(), A::mode}...};
    check_accesses(opt.name, acc);
    using kind = detail::body_kind<std::remove_cvref_t<Fn>>;
    detail::flow_body host, device;
    if constexpr (kind::cpu && kind::device)
      host = host_body<A...>(std::forward<Fn>(fn).cpu), device = device_body<A...>(std::forward<Fn>(fn).device);
    else if constexpr (kind::device)
      device = device_body<A...>(std::forward<Fn>(fn).fn);
    else
      host = host_body<A...>(std::forward<Fn>(fn));
    return record(std::move(opt), std::move(acc), std::move(host), std::move(device));
  }

  /// \brief The inferred graph so far (edges: RAW with the handle's bytes, WAR and WAW with 0).
  [[nodiscard]] graph const& inferred_graph() const noexcept { return graph_; }
  /// \brief The task whose value task `t`'s `k`-th access reads (none: the registered value, or a write).
  [[nodiscard]] std::optional<task_id> producer(task_id t, std::size_t k) const { return producers_.at(t).at(k); }
  /// \brief Each submitted task's priority: cost + the costliest chain of successors (HEFT's upward rank).
  [[nodiscard]] std::vector<double> priorities() const { return detail::upward_ranks(graph_); }
  /// \brief Number of tasks submitted since the last run.
  [[nodiscard]] std::size_t size() const noexcept { return tasks_.size(); }
  [[nodiscard]] Placement const& placement() const noexcept { return placement_; }
  [[nodiscard]] flow_options const& options() const noexcept { return options_; }

  /// \brief Runs the submitted tasks on one process (no MPI).
  flow_result run(comm::solo const& = {}) {
    for (auto const& r : handles_)
      if (r.registered && r.home != 0)
        throw flow_error("dag::task_flow::run: handle '" + r.name + "' has home rank " + std::to_string(r.home) +
                             " but a run without MPI has rank 0 only",
                         "", r.name);
    return run_on(MPI_COMM_NULL, 0, 1, [](auto&&...) {});
  }

  /// \brief Collective over `comm`: runs the submitted tasks on its ranks. A task that throws makes every
  /// rank throw the same `task_error`; ranks that submitted different flows all throw `flow_error`.
  flow_result run(comm::mpi const& comm) {
    check_same_flow(comm);
    auto const own = comm::mpi::duplicate(comm.native());  // this run's messages stay in their own communicator
    return run_checked(own);
  }

  /// \brief Collective over `comm`, resumable: runs the tasks in segments of `r.options.every_tasks` tasks
  /// of program order; at each cut (every value at its home) the checkpointer's `step(tasks done)` may
  /// save each rank's home values and the cut. If the directory holds a saved cut of this flow, it is
  /// restored first and the tasks before it are skipped. Protects `strata.dag.cut`, `strata.dag.handles`
  /// and `strata.dag.values` for the run (other regions the checkpointer protects are restored too).
  /// \throws resume_error when the saved cut belongs to another flow (tasks, ranks or handles differ).
  template <class C>
  flow_result run(comm::mpi const& comm, resume_with<C> r) {
    if (r.options.every_tasks == 0) throw usage_error("dag::task_flow::run: resume_options::every_tasks must be at least 1");
    check_same_flow(comm);
    struct reset_on_exit {
      task_flow& f;
      ~reset_on_exit() { f.reset(); }
    } guard{*this};
    auto& ck = r.checkpointer;
    std::filesystem::path const dir = ck.settings().directory;
    detail::flow_cut_header const now{tasks_.size(), static_cast<std::uint64_t>(comm.size()), registered_count(), 0};
    std::string const now_handles = handle_signature();
    detail::flow_cut_header head{};
    std::string handles;
    std::vector<std::byte> values;
    ck.protect("strata.dag.cut", head, strata::replicated{});
    ck.protect("strata.dag.handles", handles, strata::replicated{});
    ck.protect("strata.dag.values", values);
    struct unprotect_on_exit {
      C& c;
      ~unprotect_on_exit() {
        for (auto const* n : {"strata.dag.cut", "strata.dag.handles", "strata.dag.values"}) c.unprotect(n);
      }
    } unprotect{ck};
    auto const t0 = std::chrono::steady_clock::now();
    std::size_t cut = restore_cut(comm, ck, dir, now, now_handles, head, handles, values);
    flow_result total;
    total.rank_of.assign(tasks_.size(), -1);
    total.resumed_from = cut;
    std::vector<char> has_value = values_before(cut);
    auto const own = comm::mpi::duplicate(comm.native());  // one for every segment: each completes its messages
    while (cut < tasks_.size()) {
      auto const end = std::min(tasks_.size(), cut + r.options.every_tasks);
      auto const res = segment(cut, end, has_value).run_checked(own);
      total.busy_s += res.busy_s, total.tasks_run += res.tasks_run, total.transfers += res.transfers;
      total.bytes_sent += res.bytes_sent, total.tasks_stolen += res.tasks_stolen;
      total.device_tasks += res.device_tasks, total.device_bytes_in += res.device_bytes_in, total.steal_requests += res.steal_requests;
      total.device_bytes_out += res.device_bytes_out;
      std::copy(res.rank_of.begin(), res.rank_of.end(), total.rank_of.begin() + static_cast<std::ptrdiff_t>(cut));
      cut = end;
      head = now, head.cut = cut, handles = now_handles, values = pack_home_values(comm.rank());
      bool const saved = ck.step(cut);
      total.cuts_saved += saved ? 1 : 0;
      if (r.options.on_cut) r.options.on_cut({cut, tasks_.size(), saved});
    }
    total.makespan_s = comm.all_reduce(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                                       comm::reduce_op::max);
    return total;
  }

 private:
  // Runs on `own` (this run's duplicate, the flow already checked the same on every rank).
  flow_result run_checked(comm::mpi const& own) {
    return run_on(own.native(), own.rank(), own.size(), [&](double& elapsed, detail::run_outcome const& out) {
      auto const verdict = comm::agree(own, out.status, out.task + '\n' + out.reason);
      elapsed = own.all_reduce(elapsed, comm::reduce_op::max);
      if (!verdict && verdict.code == detail::run_outcome::threw) {
        auto const nl = verdict.reason.find('\n');
        throw task_error(verdict.reason.substr(0, nl), verdict.rank, verdict.reason.substr(nl + 1));
      }
    });
  }
  std::uint64_t registered_count() const {
    return static_cast<std::uint64_t>(std::count_if(handles_.begin(), handles_.end(), [](auto const& h) { return h.registered; }));
  }
  std::string handle_signature() const {
    std::string s;
    for (auto const& h : handles_)
      if (h.registered) s += detail::handle_line(h.name, h.bytes.size(), h.home);
    return s;
  }
  std::vector<std::byte> pack_home_values(int me) const {
    std::vector<std::byte> v;
    for (auto const& h : handles_)
      if (h.registered && h.home == me) v.insert(v.end(), h.bytes.begin(), h.bytes.end());
    return v;
  }
  // Restores the newest saved cut, if any, into the home buffers; every rank agrees before any is touched.
  template <class C>
  std::size_t restore_cut(comm::mpi const& comm, C& ck, std::filesystem::path const& dir, detail::flow_cut_header const& now,
                          std::string const& now_handles, detail::flow_cut_header const& head, std::string const& handles,
                          std::vector<std::byte> const& values) {
    std::optional<std::uint64_t> version;
    try {
      version = ck.restore_latest();
    } catch (resume_error const&) {
      throw;
    } catch (restore_error const& e) {
      throw resume_error(dir, std::nullopt, std::string("the checkpointer refused it: ") + e.what());
    }
    if (!version) return 0;
    auto diff = detail::flow_mismatch(head, handles, now, now_handles);
    std::size_t want = 0;
    for (auto const& h : handles_)
      if (h.registered && h.home == comm.rank()) want += h.bytes.size();
    std::uint64_t const mine = diff.empty() && values.size() != want ? static_cast<std::uint64_t>(comm.rank()) + 1 : 0;
    if (auto const bad = comm.all_reduce(mine, comm::reduce_op::max); diff.empty() && bad > 0)
      diff = "rank " + std::to_string(bad - 1) + "'s saved values do not have the size of its home handles";
    if (!diff.empty()) throw resume_error(dir, version, diff);
    std::size_t at = 0;
    for (auto const& h : handles_)
      if (h.registered && h.home == comm.rank()) {
        std::copy_n(values.begin() + static_cast<std::ptrdiff_t>(at), h.bytes.size(), h.bytes.begin());
        at += h.bytes.size();
      }
    return static_cast<std::size_t>(head.cut);
  }
  // Which handles hold a value once the first `cut` tasks of program order are done.
  std::vector<char> values_before(std::size_t cut) const {
    std::vector<char> v;
    for (auto const& h : handles_) v.push_back(h.initialized ? 1 : 0);
    for (std::size_t t = 0; t < cut; ++t)
      for (auto const& a : tasks_[t].accesses)
        if (writes(a.mode)) v[a.handle] = 1;
    return v;
  }
  // Tasks [first, last) as a flow of their own over the same buffers; `has_value` moves past them.
  task_flow segment(std::size_t first, std::size_t last, std::vector<char>& has_value) {
    task_flow seg{options_, placement_};
    seg.handles_ = handles_;
    for (std::size_t k = 0; k < seg.handles_.size(); ++k) {
      auto& h = seg.handles_[k];
      h.initialized = has_value[k] != 0, h.last_writer.reset(), h.readers.clear();
    }
    for (std::size_t t = first; t < last; ++t) {
      for (auto const& a : tasks_[t].accesses)
        if (writes(a.mode)) has_value[a.handle] = 1;
      auto const& node = graph_.at(t);
      seg.record({node.name, node.cost.begin()->second}, tasks_[t].accesses, std::move(tasks_[t].body), std::move(tasks_[t].device_body));
    }
    return seg;
  }

  struct handle_rec {
    std::string name;
    std::span<std::byte> bytes;
    int home = 0;
    bool initialized = true;
    bool registered = true;
    std::optional<task_id> last_writer;
    std::vector<task_id> readers;  // since the last write
  };

  handle_rec& checked(handle_id h, char const* what) {
    if (h >= handles_.size())
      throw flow_error(std::string("dag::task_flow::") + what + ": handle #" + std::to_string(h) + " was not registered with this flow",
                       "", "#" + std::to_string(h));
    return handles_[h];
  }

  void check_accesses(std::string const& task, std::vector<data_access> const& acc) {
    for (std::size_t k = 0; k < acc.size(); ++k) {
      auto const& rec = checked(acc[k].handle, "submit");
      if (!rec.registered)
        throw flow_error("dag::task_flow: task '" + task + "' uses handle '" + rec.name + "', which was unregistered", task, rec.name);
      for (std::size_t j = 0; j < k; ++j)
        if (acc[j].handle == acc[k].handle)
          throw flow_error("dag::task_flow: task '" + task + "' names handle '" + rec.name +
                               "' twice (declare it once, as readwrite if it reads and writes it)",
                           task, rec.name);
      if (reads(acc[k].mode) && !rec.initialized && !rec.last_writer)
        throw flow_error("dag::task_flow: task '" + task + "' reads handle '" + rec.name +
                             "', which has no value: it was registered with initialized = false and no earlier task writes it",
                         task, rec.name);
    }
  }

  template <class... A, class F>
  static detail::flow_body host_body(F&& fn) {
    static_assert(std::invocable<std::decay_t<F>&, detail::access_span_t<A>...>,
                  "dag::task_flow::submit: the task function must be callable with std::span<const T> for each "
                  "read(h) and std::span<T> for each write(h) / readwrite(h), in the order they are declared");
    return detail::typed_body<detail::host_views, A...>(std::forward<F>(fn));
  }
  template <class... A, class F>
  static detail::flow_body device_body(F&& fn) {
    static_assert(std::invocable<std::decay_t<F>&, detail::access_device_view_t<A>...>,
                  "dag::task_flow::submit: the device function must be callable with dag::device_view<const T> for each "
                  "read(h) and dag::device_view<T> for each write(h) / readwrite(h), in the order they are declared");
    return detail::typed_body<detail::device_views, A...>(std::forward<F>(fn));
  }

  // Dependency inference over the program order: RAW from the last writer, WAW from it, WAR from the
  // readers since; one edge per predecessor, carrying the bytes it produces for this task.
  task_id record(task_options opt, std::vector<data_access> acc, detail::flow_body body, detail::flow_body device_body = {}) {
    if (!(opt.cost >= 0.0)) throw flow_error("dag::task_flow: task '" + opt.name + "' has a negative or NaN cost", opt.name, "");
    auto const t = graph_.add_task(opt.name, {{"cpu", opt.cost}});
    std::vector<std::pair<task_id, std::uint64_t>> preds;
    auto need = [&](task_id p, std::uint64_t bytes) {
      for (auto& [q, b] : preds)
        if (q == p) return void(b += bytes);
      preds.emplace_back(p, bytes);
    };
    auto& prod = producers_.emplace_back();
    for (auto const& a : acc) {
      auto& h = handles_[a.handle];
      prod.push_back(reads(a.mode) ? h.last_writer : std::nullopt);
      if (h.last_writer) need(*h.last_writer, reads(a.mode) ? h.bytes.size() : 0);
      if (writes(a.mode))
        for (auto r : h.readers) need(r, 0);
    }
    for (auto const& a : acc) {
      auto& h = handles_[a.handle];
      if (writes(a.mode)) {
        h.last_writer = t;
        h.readers.clear();
      } else {
        h.readers.push_back(t);
      }
    }
    for (auto const& [p, b] : preds) graph_.add_edge(p, t, b);
    tasks_.push_back({std::move(acc), std::move(body), std::move(device_body)});
    return t;
  }

  void check_same_flow(comm::mpi const& comm) const {
    std::uint64_t h = detail::mix(tasks_.size(), handles_.size());
    h = detail::mix(detail::mix(detail::mix(h, options_.steal.enabled ? 1u : 0u), options_.steal.max_bytes),
                    std::bit_cast<std::uint64_t>(options_.steal.bandwidth_Bps));
    for (auto const& r : handles_) h = detail::mix(detail::mix(detail::mix(h, r.name), r.bytes.size()), static_cast<std::uint64_t>(r.home));
    for (task_id t = 0; t < tasks_.size(); ++t) {
      h = detail::mix(detail::mix(h, graph_.at(t).name), std::bit_cast<std::uint64_t>(graph_.at(t).cost.begin()->second));
      for (auto const& a : tasks_[t].accesses) h = detail::mix(h, a.handle * 4 + static_cast<std::uint64_t>(a.mode));
    }
    if (comm.all_reduce(h, comm::reduce_op::min) != comm.all_reduce(h, comm::reduce_op::max)) {
      auto const n = comm.all_gather(static_cast<std::uint64_t>(tasks_.size()));
      std::string counts;
      for (std::size_t r = 0; r < n.size(); ++r) counts += (r ? ", " : "") + std::to_string(n[r]);
      throw flow_error("dag::task_flow::run: the ranks submitted different task flows (tasks, costs, accesses, handle "
                       "names / sizes / homes or steal options differ; tasks per rank: " + counts + ")",
                       "", "");
    }
    for (auto const& r : handles_)
      if (r.registered && r.home >= comm.size())
        throw flow_error("dag::task_flow::run: handle '" + r.name + "' has home rank " + std::to_string(r.home) +
                             " but the communicator has " + std::to_string(comm.size()) + " ranks",
                         "", r.name);
  }

  template <class Finish>
  flow_result run_on(MPI_Comm comm, int me, int ranks, Finish&& finish) {
    struct reset_on_exit {
      task_flow& f;
      ~reset_on_exit() { f.reset(); }
    } guard{*this};
    if (comm != MPI_COMM_NULL) comm::detail::check_mpi(MPI_Barrier(comm), "MPI_Barrier (task_flow start)");
    auto const t0 = std::chrono::steady_clock::now();
    std::vector<data_info> data;
    std::vector<std::vector<data_access>> accesses;
    std::vector<std::span<std::byte>> buffers;
    std::vector<std::string> names;
    for (auto const& h : handles_) data.push_back({h.name, h.bytes.size(), h.registered ? h.home : 0}), buffers.push_back(h.bytes);
    for (task_id t = 0; t < tasks_.size(); ++t) accesses.push_back(tasks_[t].accesses), names.push_back(graph_.at(t).name);
    flow_result res;
    res.rank_of = placement_.assign({graph_, accesses, data, ranks, options_.workers});
    if (res.rank_of.size() != tasks_.size())
      throw flow_error("dag::task_flow: placement '" + std::string(placement_.name()) + "' placed " +
                           std::to_string(res.rank_of.size()) + " of " + std::to_string(tasks_.size()) + " tasks",
                       "", "");
    for (task_id t = 0; t < tasks_.size(); ++t)
      if (res.rank_of[t] < 0 || res.rank_of[t] >= ranks)
        throw flow_error("dag::task_flow: placement '" + std::string(placement_.name()) + "' put task '" + names[t] +
                             "' on rank " + std::to_string(res.rank_of[t]) + " of " + std::to_string(ranks),
                         names[t], "");
    if (options_.devices == 0)
      for (task_id t = 0; t < tasks_.size(); ++t)
        if (!tasks_[t].body)
          throw flow_error("dag::task_flow: task '" + names[t] +
                               "' has only a device body (on_device) but flow_options::devices is 0: give it device "
                               "workers, or a host body too (cpu_or_device)",
                           names[t], "");
    auto plan = detail::build_local_plan(me, ranks, res.rank_of, tasks_, data, detail::upward_ranks(graph_));
    bool const steal = options_.steal.enabled && comm != MPI_COMM_NULL && ranks > 1;
    detail::steal_setup setup;
    if (steal)
      setup = {true, detail::movable_tasks(tasks_, data, graph_, options_.steal.max_bytes, options_.steal.bandwidth_Bps),
               static_cast<int>(plan.transfers) + 1};
    if (comm != MPI_COMM_NULL) check_tags(comm, plan.transfers + (steal ? 3 : 0));
    auto out = detail::flow_executor(plan, tasks_, names, buffers, options_.workers, comm, ranks, std::move(setup),
                                     options_.progress_thread, options_.devices)
                   .run();
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    finish(elapsed, out);
    if (out.status == detail::run_outcome::threw) throw task_error(out.task, me, out.reason);
    if (steal) res.tasks_stolen = detail::gather_stolen(comm, out.stolen, res.rank_of);
    res.makespan_s = elapsed;
    res.busy_s = out.busy_s;
    res.tasks_run = out.tasks_run;
    res.transfers = plan.transfers;
    res.bytes_sent = plan.bytes_sent + out.steal_bytes_sent;
    res.device_tasks = out.device_tasks;
    res.steal_requests = out.steal_requests;
    res.device_bytes_in = out.device_bytes_in;
    res.device_bytes_out = out.device_bytes_out;
    return res;
  }

  static void check_tags(MPI_Comm comm, std::size_t transfers) {
    void* attr = nullptr;
    int flag = 0;
    MPI_Comm_get_attr(comm, MPI_TAG_UB, &attr, &flag);
    if (flag && transfers >= static_cast<std::size_t>(*static_cast<int*>(attr)))
      throw flow_error("dag::task_flow::run: " + std::to_string(transfers) + " transfers exceed MPI_TAG_UB (" +
                           std::to_string(*static_cast<int*>(attr)) + "); run the flow in smaller batches",
                       "", "");
  }

  // After a run (done or failed): no tasks; every value is at its home.
  void reset() noexcept {
    for (auto& h : handles_) {
      h.initialized = h.initialized || h.last_writer.has_value();
      h.last_writer.reset();
      h.readers.clear();
    }
    tasks_.clear();
    producers_.clear();
    graph_ = graph{};
  }

  flow_options options_;
  Placement placement_;
  std::vector<handle_rec> handles_;
  std::vector<detail::flow_task> tasks_;
  std::vector<std::vector<std::optional<task_id>>> producers_;
  graph graph_;
};

}  // namespace strata::dag
