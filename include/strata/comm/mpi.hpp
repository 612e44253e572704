#pragma once
/// \file
/// \brief `comm::mpi`: a real MPI communicator, with explicit ownership.

#include <strata/comm/concepts.hpp>
#include <strata/error.hpp>

#include <mpi.h>

#include <limits>
#include <memory>
#include <exception>
#include <string>

namespace strata::comm {

namespace detail {
inline bool mpi_finalized() noexcept {
  int finalized = 0;
  MPI_Finalized(&finalized);
  return finalized != 0;
}
inline void check_mpi(int rc, char const* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw comm_error(std::string("MPI error in ") + what + ": " + std::string(text, static_cast<std::size_t>(len)));
}
inline MPI_Op to_mpi(reduce_op op) noexcept {
  switch (op) {
    case reduce_op::min: return MPI_MIN;
    case reduce_op::max: return MPI_MAX;
    default: return MPI_SUM;
  }
}
}  // namespace detail

/// \brief Initialises MPI (thread level MULTIPLE, needed by the asynchronous writer) and finalises it on scope exit.
///
/// Does nothing if MPI is already initialised by the application.
class mpi_environment {
 public:
  mpi_environment(int& argc, char**& argv) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized) return;
    detail::check_mpi(MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided_), "MPI_Init_thread");
    owns_ = true;
  }
  mpi_environment(mpi_environment const&) = delete;
  mpi_environment& operator=(mpi_environment const&) = delete;
  ~mpi_environment() {
    if (owns_ && !detail::mpi_finalized()) MPI_Finalize();
  }
  /// \brief The thread level MPI granted.
  [[nodiscard]] int thread_level() const noexcept { return provided_; }

 private:
  bool owns_ = false;
  int provided_ = MPI_THREAD_SINGLE;
};

/// \brief A communicator over MPI. Copies share one underlying communicator.
///
/// Ownership is explicit: `duplicate` (the default when converting from an
/// `MPI_Comm`) gives strata a private communicator, so its messages never
/// match the application's, and frees it when the last copy goes — unless MPI
/// is already finalised, in which case it is left alone. `attach` uses the
/// application's communicator as is and never frees it.
///
/// \code
/// strata::comm::mpi world{MPI_COMM_WORLD};                    // duplicate
/// auto same = strata::comm::mpi::attach(MPI_COMM_WORLD);     // no copy, no free
/// \endcode
class mpi {
 public:
  /// \brief Duplicates `comm` (owned).
  mpi(MPI_Comm comm = MPI_COMM_WORLD) : mpi(duplicate(comm)) {}  // NOLINT: implicit on purpose

  /// \brief A private duplicate of `comm`, freed when the last copy is destroyed.
  static mpi duplicate(MPI_Comm comm) {
    MPI_Comm dup = MPI_COMM_NULL;
    detail::check_mpi(MPI_Comm_dup(comm, &dup), "MPI_Comm_dup");
    MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN);
    return mpi(dup, true);
  }
  /// \brief Uses `comm` without duplicating it or ever freeing it.
  static mpi attach(MPI_Comm comm) { return mpi(comm, false); }

  [[nodiscard]] MPI_Comm native() const noexcept { return state_->comm; }
  [[nodiscard]] bool owns() const noexcept { return state_->owned; }
  /// \brief Never frees the communicator (MPI_Finalize does): for one that may still hold unmatched
  /// messages. A freed communicator's context id is reused by the next one created, and a message
  /// still unmatched (or in flight) on the old one would then be matched on the new one.
  void retain_until_finalize() const noexcept { state_->owned = false; }
  [[nodiscard]] int rank() const noexcept { return state_->rank; }
  [[nodiscard]] int size() const noexcept { return state_->size; }

  void barrier() const { detail::check_mpi(MPI_Barrier(native()), "MPI_Barrier"); }

  [[nodiscard]] std::uint64_t all_reduce(std::uint64_t v, reduce_op op) const {
    std::uint64_t out = 0;
    detail::check_mpi(MPI_Allreduce(&v, &out, 1, MPI_UINT64_T, detail::to_mpi(op), native()), "MPI_Allreduce");
    return out;
  }
  [[nodiscard]] double all_reduce(double v, reduce_op op) const {
    double out = 0;
    detail::check_mpi(MPI_Allreduce(&v, &out, 1, MPI_DOUBLE, detail::to_mpi(op), native()), "MPI_Allreduce");
    return out;
  }
  /// \brief An all-reduce of one value in flight (`MPI_Iallreduce`): `wait()` gives the result. Movable;
  /// destroyed unfinished, it is finished first (every rank started it), unless MPI is finalised or an
  /// exception is unwinding (a peer may be gone: the request is then left to MPI_Finalize or the abort).
  class pending_reduce {
   public:
    pending_reduce() = default;
    pending_reduce(pending_reduce&&) noexcept = default;
    pending_reduce& operator=(pending_reduce&& o) noexcept {
      if (this != &o) {
        finish_quietly();
        s_ = std::move(o.s_);
      }
      return *this;
    }
    ~pending_reduce() { finish_quietly(); }
    /// \brief Whether it is in flight (started, not yet waited for).
    [[nodiscard]] bool active() const noexcept { return s_ != nullptr; }
    /// \brief Finishes the reduction (blocks until every rank has started it). \throws comm_error
    [[nodiscard]] std::uint64_t wait() {
      if (!s_) throw usage_error("comm::mpi::pending_reduce::wait: no reduction in flight");
      auto s = std::move(s_);
      detail::check_mpi(MPI_Wait(&s->request, MPI_STATUS_IGNORE), "MPI_Wait (MPI_Iallreduce)");
      return s->out;
    }

   private:
    friend class mpi;
    struct state {
      std::uint64_t in = 0, out = 0;  // where MPI reads and writes until the request completes
      MPI_Request request = MPI_REQUEST_NULL;
    };
    void finish_quietly() noexcept {
      if (!s_) return;
      if (std::uncaught_exceptions() == 0 && !detail::mpi_finalized()) MPI_Wait(&s_->request, MPI_STATUS_IGNORE);
      else (void)s_.release();  // MPI may still write into it
      s_.reset();
    }
    std::unique_ptr<state> s_;
  };
  /// \brief Starts an all-reduce of `v` (`MPI_Iallreduce`); every rank must start the same ones in the same order.
  [[nodiscard]] pending_reduce start_all_reduce(std::uint64_t v, reduce_op op) const {
    pending_reduce r;
    r.s_ = std::make_unique<pending_reduce::state>();
    r.s_->in = v;
    detail::check_mpi(MPI_Iallreduce(&r.s_->in, &r.s_->out, 1, MPI_UINT64_T, detail::to_mpi(op), native(), &r.s_->request),
                      "MPI_Iallreduce");
    return r;
  }
  [[nodiscard]] std::vector<std::uint64_t> all_gather(std::uint64_t v) const {
    std::vector<std::uint64_t> out(static_cast<std::size_t>(size()));
    detail::check_mpi(MPI_Allgather(&v, 1, MPI_UINT64_T, out.data(), 1, MPI_UINT64_T, native()), "MPI_Allgather");
    return out;
  }
  void broadcast(std::span<std::byte> data, int root) const {
    // MPI counts are int: send large buffers in pieces.
    constexpr std::size_t chunk = std::size_t{1} << 30;
    for (std::size_t off = 0; off < data.size(); off += chunk) {
      auto const n = static_cast<int>(data.size() - off < chunk ? data.size() - off : chunk);
      detail::check_mpi(MPI_Bcast(data.data() + off, n, MPI_BYTE, root, native()), "MPI_Bcast");
    }
    if (data.empty()) detail::check_mpi(MPI_Bcast(nullptr, 0, MPI_BYTE, root, native()), "MPI_Bcast");
  }

  void send(std::span<const std::byte> data, int dest, int tag) const {
    check_count(data.size());
    detail::check_mpi(MPI_Send(data.data(), static_cast<int>(data.size()), MPI_BYTE, dest, tag, native()), "MPI_Send");
  }
  /// \brief Receives one message (blocking), resizing `out` to fit it.
  /// Matched probe (`MPI_Mprobe` + `MPI_Mrecv`): the message sized is the message received, whatever
  /// other threads or earlier probes of this process do.
  message_info recv(std::vector<std::byte>& out, int source, int tag) const {
    MPI_Status st;
    MPI_Message msg = MPI_MESSAGE_NULL;
    detail::check_mpi(MPI_Mprobe(to_mpi_source(source), to_mpi_tag(tag), native(), &msg, &st), "MPI_Mprobe");
    return receive_matched(out, msg, st);
  }
  /// \brief Receives one pending message if there is one (non-blocking, matched probe).
  [[nodiscard]] std::optional<message_info> try_recv(std::vector<std::byte>& out, int source, int tag) const {
    int flag = 0;
    MPI_Status st;
    MPI_Message msg = MPI_MESSAGE_NULL;
    detail::check_mpi(MPI_Improbe(to_mpi_source(source), to_mpi_tag(tag), native(), &flag, &msg, &st), "MPI_Improbe");
    if (!flag) return std::nullopt;
    return receive_matched(out, msg, st);
  }
  message_info receive_matched(std::vector<std::byte>& out, MPI_Message& msg, MPI_Status const& st) const {
    int count = 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    out.resize(static_cast<std::size_t>(count));
    detail::check_mpi(MPI_Mrecv(out.data(), count, MPI_BYTE, &msg, MPI_STATUS_IGNORE), "MPI_Mrecv");
    return {st.MPI_SOURCE, st.MPI_TAG, static_cast<std::size_t>(count)};
  }

 public:
  /// \brief Non-blocking check for a pending message.
  [[nodiscard]] std::optional<message_info> probe(int source, int tag) const {
    int flag = 0;
    MPI_Status st;
    detail::check_mpi(MPI_Iprobe(to_mpi_source(source), to_mpi_tag(tag), native(), &flag, &st), "MPI_Iprobe");
    if (!flag) return std::nullopt;
    int count = 0;
    MPI_Get_count(&st, MPI_BYTE, &count);
    return message_info{st.MPI_SOURCE, st.MPI_TAG, static_cast<std::size_t>(count)};
  }

  /// \brief Ranks that share a node with this one (`MPI_Comm_split_type` shared memory), owned.
  [[nodiscard]] mpi split_shared() const {
    MPI_Comm node = MPI_COMM_NULL;
    detail::check_mpi(MPI_Comm_split_type(native(), MPI_COMM_TYPE_SHARED, rank(), MPI_INFO_NULL, &node),
                      "MPI_Comm_split_type");
    MPI_Comm_set_errhandler(node, MPI_ERRORS_RETURN);
    return mpi(node, true);
  }
  /// \brief Splits by `color` (ranks ordered by `key`), owned.
  [[nodiscard]] mpi split(int color, int key) const {
    MPI_Comm out = MPI_COMM_NULL;
    detail::check_mpi(MPI_Comm_split(native(), color, key, &out), "MPI_Comm_split");
    MPI_Comm_set_errhandler(out, MPI_ERRORS_RETURN);
    return mpi(out, true);
  }

  friend bool operator==(mpi const& a, mpi const& b) noexcept { return a.native() == b.native(); }

 private:
  struct state {
    MPI_Comm comm = MPI_COMM_NULL;
    bool owned = false;
    int rank = 0;
    int size = 1;
    state(MPI_Comm c, bool o) : comm(c), owned(o) {
      MPI_Comm_rank(c, &rank);
      MPI_Comm_size(c, &size);
    }
    state(state const&) = delete;
    state& operator=(state const&) = delete;
    ~state() {
      // Freeing after MPI_Finalize is erroneous: a communicator that outlives MPI is simply dropped.
      if (owned && comm != MPI_COMM_NULL && !detail::mpi_finalized()) MPI_Comm_free(&comm);
    }
  };
  mpi(MPI_Comm comm, bool owned) : state_(std::make_shared<state>(comm, owned)) {}
  static int to_mpi_source(int s) noexcept { return s == any_source ? MPI_ANY_SOURCE : s; }
  static int to_mpi_tag(int t) noexcept { return t == any_tag ? MPI_ANY_TAG : t; }
  static void check_count(std::size_t n) {
    if (n > static_cast<std::size_t>(std::numeric_limits<int>::max()))
      throw comm_error("comm::mpi: message of " + std::to_string(n) + " bytes exceeds MPI's int count");
  }
  std::shared_ptr<state> state_;
};

static_assert(point_to_point_communicator<mpi>);

}  // namespace strata::comm
