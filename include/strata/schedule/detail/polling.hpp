#pragma once
/// \file
/// \brief How both sides of the dispatcher poll their communicator: one message at a time, with a back-off
/// while nothing comes. Not API.

#include <strata/comm/concepts.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <optional>
#include <thread>
#include <vector>

namespace strata::schedule::detail {

/// A pending message from `source`, received at once (a matched probe where the communicator has one, so
/// that what was probed is what is received).
template <class Comm>
std::optional<comm::message_info> next_message(Comm const& comm, int source, std::vector<std::byte>& buf) {
  if constexpr (requires { comm.try_recv(buf, source, comm::any_tag); }) {
    return comm.try_recv(buf, source, comm::any_tag);
  } else {
    auto info = comm.probe(source, comm::any_tag);
    if (info) comm.recv(buf, info->source, info->tag);
    return info;
  }
}

/// Polling back-off: hot while messages flow, then yields, then sleeps up to 1 ms.
inline void idle_wait(bool progressed, unsigned& idle) {
  if (progressed) {
    idle = 0;
    return;
  }
  ++idle;
  if (idle < 64) return;
  if (idle < 256) {
    std::this_thread::yield();
    return;
  }
  auto const us = std::min<unsigned>(1000, 10u << std::min<unsigned>((idle - 256) / 64, 7));
  std::this_thread::sleep_for(std::chrono::microseconds(us));
}

}  // namespace strata::schedule::detail
