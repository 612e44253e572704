#pragma once
/// \file
/// \brief The ranks' agreement at `ckpt.step()`: whether any rank's trigger is due and whether any
/// rank caught a pre-emption signal, one all-reduce of one word (not a public header).
///
/// With a communicator that has a non-blocking all-reduce (`comm::mpi`) the agreement is one step
/// late: started at one collective step, finished and acted on at the next, so a rank ahead of the
/// others waits for them only when it is a whole such step ahead (a blocking all-reduce would make
/// every rank wait for the slowest at every step). Every rank finishes the same agreement at the same
/// step, so the decision still agrees. Other communicators agree at once.

#include <strata/comm/concepts.hpp>

#include <cstdint>
#include <optional>
#include <utility>

namespace strata::checkpoint::detail {

/// \brief One rank's side of the step agreements of a checkpointer.
///
/// Call `take()` then `start()` at each collective step when `lagged`, `start()` then `take()`
/// otherwise; act on what `take()` returns.
template <comm::communicator Comm>
class step_agreement {
 public:
  /// What the ranks agreed: some rank's trigger was due, some rank caught a signal.
  struct verdict {
    bool due = false;
    bool signalled = false;
  };
  static constexpr bool lagged = comm::nonblocking_reduce_communicator<Comm>;

  /// \brief Starts this step's agreement with this rank's `due` and `signalled`; `epoch` counts the
  /// checkpoints started so far (a later `take()` drops a due verdict once another was started).
  void start(Comm const& c, bool due, bool signalled, std::uint64_t epoch) {
    std::uint64_t const word = std::uint64_t{due} | std::uint64_t{signalled} << 32;  // two sums in one
    if constexpr (lagged) pending_.emplace(c.start_all_reduce(word, comm::reduce_op::sum));
    else pending_.emplace(c.all_reduce(word, comm::reduce_op::sum));
    epoch_ = epoch;
  }
  /// \brief The agreement started last, finished (lagged: waits for the peers that have not yet started
  /// it); nothing when none is pending. `due` only if no checkpoint was started since (`epoch`).
  [[nodiscard]] std::optional<verdict> take(std::uint64_t epoch) {
    if (!pending_) return std::nullopt;
    std::uint64_t all = 0;
    if constexpr (lagged) all = pending_->wait();
    else all = *pending_;
    pending_.reset();
    return verdict{(all & 0xffffffffu) != 0 && epoch == epoch_, (all >> 32) != 0};
  }

 private:
  // The type of what start() keeps: the request in flight (lagged), or the result itself.
  template <class C>
  static auto request_of(C const& c) {
    if constexpr (comm::nonblocking_reduce_communicator<C>) return c.start_all_reduce(std::uint64_t{}, comm::reduce_op::sum);
    else return std::uint64_t{};
  }
  std::optional<decltype(request_of(std::declval<Comm const&>()))> pending_;  // a request, or the result at once
  std::uint64_t epoch_ = 0;
};

}  // namespace strata::checkpoint::detail
