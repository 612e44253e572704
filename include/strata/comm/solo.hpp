#pragma once
/// \file
/// \brief `comm::solo`: the communicator of a single process, for users without MPI and unit tests.

#include <strata/comm/concepts.hpp>
#include <strata/error.hpp>

#include <memory>
#include <string>

namespace strata::comm {

/// \brief A one-rank communicator: collectives are identities, messages go to oneself.
///
/// \code
/// strata::checkpointer<strata::comm::solo> ckpt{strata::comm::solo{}, {.directory = "ckpt"}};
/// \endcode
class solo {
 public:
  [[nodiscard]] int rank() const noexcept { return 0; }
  [[nodiscard]] int size() const noexcept { return 1; }
  void barrier() const noexcept {}
  [[nodiscard]] std::uint64_t all_reduce(std::uint64_t v, reduce_op) const noexcept { return v; }
  [[nodiscard]] double all_reduce(double v, reduce_op) const noexcept { return v; }
  [[nodiscard]] std::vector<std::uint64_t> all_gather(std::uint64_t v) const { return {v}; }
  void broadcast(std::span<std::byte>, int root) const { check_peer(root); }

  /// \brief Queues a message to this same rank (the only peer there is).
  void send(std::span<const std::byte> data, int dest, int tag) const {
    check_peer(dest);
    mailbox_->push_back({tag, std::vector<std::byte>(data.begin(), data.end())});
  }
  /// \brief Takes the oldest queued message with a matching tag; throws if there is none (it would block forever).
  message_info recv(std::vector<std::byte>& out, int source, int tag) const {
    if (source != any_source) check_peer(source);
    for (auto it = mailbox_->begin(); it != mailbox_->end(); ++it) {
      if (tag == any_tag || it->tag == tag) {
        message_info info{0, it->tag, it->data.size()};
        out = std::move(it->data);
        mailbox_->erase(it);
        return info;
      }
    }
    throw comm_error("comm::solo: recv with tag " + std::to_string(tag) + " would block forever (no message queued)");
  }
  [[nodiscard]] std::optional<message_info> probe(int source, int tag) const {
    if (source != any_source) check_peer(source);
    for (auto const& m : *mailbox_)
      if (tag == any_tag || m.tag == tag) return message_info{0, m.tag, m.data.size()};
    return std::nullopt;
  }

  friend bool operator==(solo const& a, solo const& b) noexcept { return a.mailbox_ == b.mailbox_; }

 private:
  struct message {
    int tag;
    std::vector<std::byte> data;
  };
  static void check_peer(int peer) {
    if (peer != 0) throw comm_error("comm::solo: rank " + std::to_string(peer) + " does not exist (size is 1)");
  }
  std::shared_ptr<std::vector<message>> mailbox_ = std::make_shared<std::vector<message>>();
};

static_assert(point_to_point_communicator<solo>);

}  // namespace strata::comm
