#pragma once
/// \file
/// \brief The communicator concept: what strata needs from a group of ranks.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace strata::comm {

/// \brief Reduction operators for `all_reduce`.
enum class reduce_op { min, max, sum };

/// \brief What `probe` reports about a pending message.
struct message_info {
  int source = -1;
  int tag = -1;
  std::size_t bytes = 0;
};

/// \brief Wildcards for `recv` and `probe`.
inline constexpr int any_source = -1;
inline constexpr int any_tag = -1;

/// \brief A group of ranks with the collectives strata's checkpointer needs.
///
/// Models: `comm::mpi` (a real MPI communicator) and `comm::solo` (one process).
template <class C>
concept communicator = std::copy_constructible<C> &&
    requires(const C& c, std::uint64_t u, double d, std::span<std::byte> bytes, reduce_op op) {
      { c.rank() } -> std::convertible_to<int>;
      { c.size() } -> std::convertible_to<int>;
      c.barrier();
      { c.all_reduce(u, op) } -> std::same_as<std::uint64_t>;
      { c.all_reduce(d, op) } -> std::same_as<double>;
      { c.all_gather(u) } -> std::same_as<std::vector<std::uint64_t>>;
      c.broadcast(bytes, 0);
    };

/// \brief A communicator that also sends point-to-point byte messages (scheduler, partner storage).
template <class C>
concept point_to_point_communicator = communicator<C> &&
    requires(const C& c, std::span<const std::byte> out, std::vector<std::byte>& in, int peer, int tag) {
      c.send(out, peer, tag);
      { c.recv(in, peer, tag) } -> std::same_as<message_info>;
      { c.probe(peer, tag) } -> std::same_as<std::optional<message_info>>;
    };

/// \brief A communicator that can start an all-reduce of one value and finish it later
/// (`auto r = c.start_all_reduce(v, op); ...; r.wait()`), so that a rank ahead of the others does
/// not wait for them at once. Every rank must start the same reductions in the same order.
template <class C>
concept nonblocking_reduce_communicator = communicator<C> && requires(const C& c, std::uint64_t u, reduce_op op) {
  { c.start_all_reduce(u, op).wait() } -> std::same_as<std::uint64_t>;
};

}  // namespace strata::comm
