#pragma once
/// \file
/// \brief `comm::mailbox`: messages between ranks with no collective on the sending or receiving
/// path (what the eventual protocol moves its records, manifests and partner copies with), and a
/// collective `drain` that delivers everything posted before it.

#include <strata/comm/mpi.hpp>
#include <strata/error.hpp>

#include <mpi.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <list>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace strata::comm {

namespace detail {

/// \brief A send in flight and the buffer it reads from.
struct pending_send {
  MPI_Request req = MPI_REQUEST_NULL;
  std::vector<std::byte> bytes;
};

/// \brief The sends that destroyed mailboxes left in flight, process-wide: each buffer lives until its
/// send completes (tested whenever a mailbox is made, posts or polls) or, for a send never matched,
/// until the process exits after `MPI_Finalize` (MPI reads no user buffer after it).
class retained_sends {
 public:
  static retained_sends& instance() {
    static retained_sends r;
    return r;
  }
  retained_sends(retained_sends const&) = delete;
  retained_sends& operator=(retained_sends const&) = delete;

  /// \brief Takes over `sends` (their requests still active).
  void adopt(std::list<pending_send>&& sends) {
    std::lock_guard g{mu_};
    held_.splice(held_.end(), sends);
    reap_locked();
  }
  /// \brief Frees the buffers of the sends that have completed; never waits.
  void reap() {
    std::lock_guard g{mu_};
    reap_locked();
  }
  /// \brief Sends still held (for tests).
  [[nodiscard]] std::size_t size() {
    std::lock_guard g{mu_};
    reap_locked();
    return held_.size();
  }

 private:
  retained_sends() = default;
  ~retained_sends() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    // The usual end: after MPI_Finalize the buffers can go. A process that exits with MPI still
    // running (erroneous, but it happens) keeps them: MPI may still read them.
    if (initialized && !mpi_finalized()) (void)new std::list<pending_send>(std::move(held_));
  }
  void reap_locked() {
    if (held_.empty() || mpi_finalized()) return;
    for (auto it = held_.begin(); it != held_.end();) {
      int done = 0;
      if (MPI_Test(&it->req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) done = 0;
      it = done ? held_.erase(it) : std::next(it);
    }
  }
  std::mutex mu_;
  std::list<pending_send> held_;
};

}  // namespace detail

/// \brief One message a mailbox delivered.
struct letter {
  int from = 0;                  ///< the sending rank
  int tag = 0;                   ///< as given to `post`
  std::vector<std::byte> bytes;  ///< the payload
};

/// \brief Point-to-point messages on a communicator of their own, sent and received without
/// blocking: `post` starts a send and returns; `poll` starts receiving what has arrived and delivers
/// what has been received, never waiting for a rank that is busy elsewhere (a receive is matched
/// with `MPI_Improbe` and completed by `MPI_Imrecv` + `MPI_Test` on later polls). `drain` is the one
/// collective: every rank calls it, and when it returns every message any rank posted before its
/// call has been delivered and every send has completed. Payloads of any size (above 1 GiB they
/// travel as 1 MiB units). Thread-safe (needs `MPI_THREAD_MULTIPLE` when used from several threads).
///
/// \code
/// strata::comm::mailbox box{world};          // duplicates the communicator
/// if (world.rank() != 0) box.post(0, 7, bytes);
/// box.poll([](strata::comm::letter&& l) { use(l); });  // whatever has arrived, no waiting
/// box.drain([](strata::comm::letter&& l) { use(l); }); // collective: everything posted
/// \endcode
class mailbox {
 public:
  /// \brief Tags at or above this are the mailbox's own.
  static constexpr int max_tag = 1 << 14;

  /// \brief Collective over `c`: a mailbox on a private duplicate of `c`.
  explicit mailbox(mpi const& c)
      : comm_(mpi::duplicate(c.native())),
        sent_to_(static_cast<std::size_t>(comm_.size()), 0),
        received_from_(static_cast<std::size_t>(comm_.size()), 0) {
    comm_.retain_until_finalize();  // a message may be left in flight by a rank that stops early
    detail::retained_sends::instance().reap();
    MPI_Type_contiguous(static_cast<int>(unit), MPI_BYTE, &unit_type_);
    MPI_Type_commit(&unit_type_);
  }
  mailbox(mailbox const&) = delete;
  mailbox& operator=(mailbox const&) = delete;
  /// \brief Without a `drain`, messages not yet delivered are dropped, but no buffer MPI may still
  /// use is freed: sends in flight are handed, with their buffers, to `detail::retained_sends` (a
  /// send buffer must stay valid until the send completes); receives already matched are waited for
  /// (their message was sent, so they complete; a matched receive cannot be cancelled). Messages to
  /// this rank not yet matched stay unreceived, and their senders' buffers retained, until `MPI_Finalize`.
  ~mailbox() {
    if (detail::mpi_finalized()) return;  // MPI uses no buffer after MPI_Finalize
    for (auto& i : in_) MPI_Wait(&i.req, MPI_STATUS_IGNORE);
    detail::retained_sends::instance().adopt(std::move(out_));
    MPI_Type_free(&unit_type_);  // operations using it complete normally
  }

  [[nodiscard]] int rank() const noexcept { return comm_.rank(); }
  [[nodiscard]] int size() const noexcept { return comm_.size(); }

  /// \brief Starts sending `payload` to rank `to` with `tag` (0 <= tag < max_tag); returns at once.
  /// A message to this rank itself is delivered by the next `poll`.
  void post(int to, int tag, std::vector<std::byte> payload) {
    if (tag < 0 || tag >= max_tag) throw usage_error("comm::mailbox: tag " + std::to_string(tag) + " out of range");
    if (to < 0 || to >= size())
      throw usage_error("comm::mailbox: no rank " + std::to_string(to) + " in a communicator of " + std::to_string(size()));
    std::lock_guard g{mu_};
    if (to == rank()) {
      self_.push_back({to, tag, std::move(payload)});
      return;
    }
    auto& o = out_.emplace_back();
    std::uint64_t const n = payload.size();
    bool const big = n + header > big_threshold;
    o.bytes.resize(big ? (n + header + unit - 1) / unit * unit : n + header);
    std::memcpy(o.bytes.data(), &n, header);
    if (n) std::memcpy(o.bytes.data() + header, payload.data(), n);
    int const count = static_cast<int>(big ? o.bytes.size() / unit : o.bytes.size());
    detail::check_mpi(MPI_Isend(o.bytes.data(), count, big ? unit_type_ : MPI_BYTE, to, tag + (big ? max_tag : 0),
                                comm_.native(), &o.req),
                      "MPI_Isend (mailbox)");
    ++sent_to_[static_cast<std::size_t>(to)];
    test_sends();
  }

  /// \brief Delivers, through `deliver(letter&&)`, every message received so far, and starts
  /// receiving those that have arrived; never waits. \returns how many were delivered.
  template <class Deliver>
  std::size_t poll(Deliver&& deliver) {
    std::vector<letter> got;
    {
      std::lock_guard g{mu_};
      take_arrived(false);
      collect(got);
    }
    for (auto& l : got) deliver(std::move(l));
    return got.size();
  }

  /// \brief Collective: delivers every message posted by any rank before its call (waiting for
  /// them), and completes this rank's sends.
  template <class Deliver>
  void drain(Deliver&& deliver) {
    std::vector<letter> got;
    {
      std::lock_guard g{mu_};
      std::vector<std::uint64_t> expected(sent_to_.size());
      detail::check_mpi(MPI_Alltoall(sent_to_.data(), 1, MPI_UINT64_T, expected.data(), 1, MPI_UINT64_T, comm_.native()),
                        "MPI_Alltoall (mailbox drain)");
      auto missing = [&] {
        for (std::size_t s = 0; s < expected.size(); ++s)
          if (received_from_[s] < expected[s]) return true;
        return false;
      };
      while (missing()) take_arrived(true);
      for (auto& i : in_) detail::check_mpi(MPI_Wait(&i.req, MPI_STATUS_IGNORE), "MPI_Wait (mailbox receive)");
      collect(got);
      for (auto& o : out_) detail::check_mpi(MPI_Wait(&o.req, MPI_STATUS_IGNORE), "MPI_Wait (mailbox send)");
      out_.clear();
    }
    for (auto& l : got) deliver(std::move(l));
  }

  /// \brief Sends not yet completed (their buffers are held until they are).
  [[nodiscard]] std::size_t sends_in_flight() {
    std::lock_guard g{mu_};
    test_sends();
    return out_.size();
  }

 private:
  static constexpr std::size_t header = sizeof(std::uint64_t);
  static constexpr std::size_t unit = std::size_t{1} << 20;
  static constexpr std::size_t big_threshold = std::size_t{1} << 30;

  using outgoing = detail::pending_send;
  struct incoming {
    MPI_Request req = MPI_REQUEST_NULL;
    int from = 0, tag = 0;
    std::vector<std::byte> bytes;
  };

  void test_sends() {
    for (auto it = out_.begin(); it != out_.end();) {
      int done = 0;
      detail::check_mpi(MPI_Test(&it->req, &done, MPI_STATUS_IGNORE), "MPI_Test (mailbox send)");
      it = done ? out_.erase(it) : std::next(it);
    }
    detail::retained_sends::instance().reap();  // those of mailboxes gone
  }

  /// Matches every message that has arrived and starts its receive; with `block`, waits for one first.
  void take_arrived(bool block) {
    for (;;) {
      int flag = 0;
      MPI_Message msg = MPI_MESSAGE_NULL;
      MPI_Status st;
      if (block) {
        detail::check_mpi(MPI_Mprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm_.native(), &msg, &st), "MPI_Mprobe (mailbox)");
        flag = 1;
        block = false;
      } else {
        detail::check_mpi(MPI_Improbe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm_.native(), &flag, &msg, &st),
                          "MPI_Improbe (mailbox)");
      }
      if (!flag) break;
      bool const big = st.MPI_TAG >= max_tag;
      int count = 0;
      MPI_Get_count(&st, big ? unit_type_ : MPI_BYTE, &count);
      auto& i = in_.emplace_back();
      i.from = st.MPI_SOURCE;
      i.tag = big ? st.MPI_TAG - max_tag : st.MPI_TAG;
      i.bytes.resize(static_cast<std::size_t>(count) * (big ? unit : 1));
      detail::check_mpi(MPI_Imrecv(i.bytes.data(), count, big ? unit_type_ : MPI_BYTE, &msg, &i.req),
                        "MPI_Imrecv (mailbox)");
      ++received_from_[static_cast<std::size_t>(i.from)];
    }
    test_sends();
  }

  /// Moves the completed receives (and messages to self) into `got`, in the order they were matched.
  void collect(std::vector<letter>& got) {
    for (auto& s : self_) got.push_back(std::move(s));
    self_.clear();
    for (auto it = in_.begin(); it != in_.end();) {
      int done = it->req == MPI_REQUEST_NULL;
      if (!done) detail::check_mpi(MPI_Test(&it->req, &done, MPI_STATUS_IGNORE), "MPI_Test (mailbox receive)");
      if (!done) {
        ++it;
        continue;
      }
      std::uint64_t n = 0;
      if (it->bytes.size() >= header) std::memcpy(&n, it->bytes.data(), header);
      if (n > it->bytes.size() - header)
        throw comm_error("comm::mailbox: a message from rank " + std::to_string(it->from) + " says " + std::to_string(n) +
                         " bytes but holds " + std::to_string(it->bytes.size() - header));
      letter l{it->from, it->tag, {}};
      l.bytes.assign(it->bytes.begin() + header, it->bytes.begin() + static_cast<std::ptrdiff_t>(header + n));
      got.push_back(std::move(l));
      it = in_.erase(it);
    }
  }

  mpi comm_;
  std::mutex mu_;
  MPI_Datatype unit_type_ = MPI_DATATYPE_NULL;
  std::list<outgoing> out_;
  std::list<incoming> in_;
  std::vector<letter> self_;
  std::vector<std::uint64_t> sent_to_, received_from_;
};

}  // namespace strata::comm
