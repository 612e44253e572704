#pragma once
/// \file
/// \brief `dag::execute`: runs a placed graph over MPI, each task on its planned rank once its
/// inputs have arrived (SPEC S4).

#include <strata/comm/mpi.hpp>
#include <strata/dag/graph.hpp>
#include <strata/dag/placement.hpp>
#include <strata/error.hpp>

#include <mpi.h>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace strata::dag {

/// \brief The inputs of a running task: the outputs of its predecessors, by predecessor id.
class task_inputs {
 public:
  /// \brief The output of predecessor `pred`; throws `graph_error` if `pred` is not one.
  [[nodiscard]] std::span<const std::byte> from(task_id pred) const {
    for (auto const& [id, bytes] : items_)
      if (id == pred) return bytes;
    throw graph_error("dag::execute: task " + std::to_string(pred) + " is not a predecessor of the running task");
  }
  /// \brief Number of distinct predecessors.
  [[nodiscard]] std::size_t size() const noexcept { return items_.size(); }
  void add(task_id pred, std::span<const std::byte> bytes) {
    for (auto const& it : items_)
      if (it.first == pred) return;
    items_.emplace_back(pred, bytes);
  }

 private:
  std::vector<std::pair<task_id, std::span<const std::byte>>> items_;
};

/// \brief What `execute` returns on each rank.
struct execution_result {
  std::map<task_id, std::vector<std::byte>> outputs;  ///< outputs of the tasks this rank ran
  double makespan_s = 0.0;                            ///< barrier to barrier, slowest rank (same on every rank)
  double busy_s = 0.0;                                ///< time this rank spent inside task functions
  std::size_t tasks_run = 0;                          ///< on this rank
  std::uint64_t bytes_sent = 0;                       ///< by this rank
};

/// \brief True for a callable usable as a task body: `std::vector<std::byte>(task_id, task_inputs const&)`.
template <class F>
concept task_function = std::invocable<F&, task_id, task_inputs const&> &&
                        std::convertible_to<std::invoke_result_t<F&, task_id, task_inputs const&>, std::vector<std::byte>>;

/// \brief Runs `g` as placed by `plan` (collective over `comm`, same graph and plan on every rank).
///
/// Each rank runs its tasks in planned start order; a task's inputs from other
/// ranks are received (by producer id) before it runs, and its output is sent
/// once to every other rank that runs one of its successors. Sends are
/// non-blocking, so the run cannot deadlock for any plan that follows a
/// dependency order. `fn` must not throw (other ranks would wait forever).
///
/// \code
/// auto res = strata::dag::execute(world, g, strata::dag::heft{}.place(g, pf),
///     [&](strata::dag::task_id t, strata::dag::task_inputs const& in) { return run_task(t, in); });
/// \endcode
template <class Fn>
execution_result execute(comm::mpi const& comm, graph const& g, schedule const& plan, Fn&& fn) {
  static_assert(task_function<Fn>,
                "dag::execute: the task body must be callable as fn(task_id, task_inputs const&) and return "
                "std::vector<std::byte> (the task's output, sent to its successors)");
  if (plan.tasks.size() != g.size())
    throw graph_error("dag::execute: the plan places " + std::to_string(plan.tasks.size()) + " tasks but the graph has " +
                      std::to_string(g.size()));
  for (task_id t = 0; t < g.size(); ++t)
    if (plan.tasks[t].rank < 0 || plan.tasks[t].rank >= comm.size())
      throw graph_error("dag::execute: task '" + g.at(t).name + "' is placed on rank " + std::to_string(plan.tasks[t].rank) +
                        " but the communicator has " + std::to_string(comm.size()) + " ranks");
  void* attr = nullptr;
  int flag = 0;
  MPI_Comm_get_attr(comm.native(), MPI_TAG_UB, &attr, &flag);
  if (flag && g.size() > static_cast<std::size_t>(*static_cast<int*>(attr)))
    throw graph_error("dag::execute: " + std::to_string(g.size()) + " tasks exceed MPI_TAG_UB (" +
                      std::to_string(*static_cast<int*>(attr)) + "); task ids are used as message tags");

  int const me = comm.rank();
  auto const order = plan.order_on(me, g.topological_order());
  execution_result res;
  std::map<task_id, std::vector<std::byte>> remote;
  std::vector<MPI_Request> sends;

  comm.barrier();
  double const t0 = MPI_Wtime();
  for (task_id t : order) {
    task_inputs in;
    for (auto ei : g.in_edges(t)) {
      task_id const p = g.edges()[ei].from;
      int const src = plan.tasks[p].rank;
      if (src == me) {
        in.add(p, res.outputs.at(p));
        continue;
      }
      auto it = remote.find(p);
      if (it == remote.end()) {
        MPI_Status st;
        comm::detail::check_mpi(MPI_Probe(src, static_cast<int>(p), comm.native(), &st), "MPI_Probe (dag input)");
        int count = 0;
        MPI_Get_count(&st, MPI_BYTE, &count);
        std::vector<std::byte> buf(static_cast<std::size_t>(count));
        comm::detail::check_mpi(MPI_Recv(buf.data(), count, MPI_BYTE, src, static_cast<int>(p), comm.native(), MPI_STATUS_IGNORE),
                                "MPI_Recv (dag input)");
        it = remote.emplace(p, std::move(buf)).first;
      }
      in.add(p, it->second);
    }
    double const b0 = MPI_Wtime();
    std::vector<std::byte> out = fn(t, in);
    res.busy_s += MPI_Wtime() - b0;
    ++res.tasks_run;
    auto& stored = res.outputs[t] = std::move(out);
    if (stored.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
      throw graph_error("dag::execute: output of task '" + g.at(t).name + "' exceeds MPI's int count");
    std::set<int> dests;
    for (auto ei : g.out_edges(t))
      if (int const r = plan.tasks[g.edges()[ei].to].rank; r != me) dests.insert(r);
    for (int r : dests) {
      comm::detail::check_mpi(MPI_Isend(stored.data(), static_cast<int>(stored.size()), MPI_BYTE, r, static_cast<int>(t),
                                        comm.native(), &sends.emplace_back()),
                              "MPI_Isend (dag output)");
      res.bytes_sent += stored.size();
    }
  }
  comm::detail::check_mpi(MPI_Waitall(static_cast<int>(sends.size()), sends.data(), MPI_STATUSES_IGNORE),
                          "MPI_Waitall (dag outputs)");
  comm.barrier();
  res.makespan_s = comm.all_reduce(MPI_Wtime() - t0, comm::reduce_op::max);
  return res;
}

}  // namespace strata::dag
