#pragma once
/// \file
/// \brief `agree`: a collective vote where the worst outcome wins and its reason reaches every rank.

#include <strata/comm/concepts.hpp>

#include <cstdint>
#include <limits>
#include <string>

namespace strata::comm {

/// \brief Outcome of `agree`: the highest code any rank voted, and which rank said why.
struct agreement {
  std::uint64_t code = 0;  ///< 0 = every rank voted ok
  int rank = -1;           ///< lowest rank that voted `code` (-1 when code is 0)
  std::string reason;      ///< that rank's reason
  explicit operator bool() const noexcept { return code == 0; }
};

/// \brief Collective: every rank votes `code` (0 = ok) with a `reason`; all ranks learn the
/// worst code, the lowest rank that voted it, and that rank's reason.
template <communicator Comm>
agreement agree(Comm const& comm, std::uint64_t code, std::string const& reason) {
  agreement out;
  out.code = comm.all_reduce(code, reduce_op::max);
  if (out.code == 0) return out;
  auto const me = static_cast<std::uint64_t>(comm.rank());
  auto const none = std::numeric_limits<std::uint64_t>::max();
  out.rank = static_cast<int>(comm.all_reduce(code == out.code ? me : none, reduce_op::min));
  std::uint64_t len = comm.rank() == out.rank ? reason.size() : 0;
  comm.broadcast(std::as_writable_bytes(std::span(&len, 1)), out.rank);
  out.reason = comm.rank() == out.rank ? reason : std::string(static_cast<std::size_t>(len), '\0');
  comm.broadcast(std::as_writable_bytes(std::span(out.reason.data(), out.reason.size())), out.rank);
  return out;
}

}  // namespace strata::comm
