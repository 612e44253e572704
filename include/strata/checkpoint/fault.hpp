#pragma once
/// \file
/// \brief Fault injection for tests: crash a chosen rank at a named phase of the protocol.
///
/// Compiled in only when `STRATA_ENABLE_FAULT_INJECTION` is defined (strata's own
/// tests, examples and benchmarks define it). At run time the environment variable
///
///     STRATA_FAULT=<phase>@<rank>[:<version>[+]]
///
/// makes that rank `raise(SIGKILL)` when it reaches the phase (for the given
/// version, or the first one). `:<version>+` means the first version from that one on that
/// reaches the phase: an asynchronous writer that falls behind supersedes a waiting version, which
/// then never reaches the phases of its write. Phases: `writing_shard` (half the shard written,
/// not yet durable), `after_shard` (shard durable, before the vote),
/// `before_commit` (all voted yes, commit record not yet written), `after_commit`,
/// `sending_partner` (partner_memory: before the shard copy goes to the partner rank),
/// `writer_staged` (async: the version is staged and queued, the background writer has not
/// finished it; the kill comes from the application thread right after `step()`/`checkpoint()`),
/// `flushing` (storage::multilevel: the background copy of a version to the slow level has begun,
/// nothing of it is durable yet).

#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <string_view>

namespace strata::fault {

/// \brief Named points of the checkpoint protocol where a test may crash a rank.
enum class phase { writing_shard, after_shard, before_commit, after_commit, sending_partner, writer_staged, flushing };

inline std::string_view to_string(phase p) noexcept {
  switch (p) {
    case phase::writing_shard: return "writing_shard";
    case phase::after_shard: return "after_shard";
    case phase::before_commit: return "before_commit";
    case phase::sending_partner: return "sending_partner";
    case phase::writer_staged: return "writer_staged";
    case phase::flushing: return "flushing";
    default: return "after_commit";
  }
}

/// \brief Kills this process with SIGKILL if STRATA_FAULT names this phase, rank and version.
inline void point([[maybe_unused]] phase p, [[maybe_unused]] int rank, [[maybe_unused]] std::uint64_t version) {
#ifdef STRATA_ENABLE_FAULT_INJECTION
  char const* spec = std::getenv("STRATA_FAULT");
  if (!spec || !*spec) return;
  std::string_view s{spec};
  auto const at = s.find('@');
  if (at == std::string_view::npos || s.substr(0, at) != to_string(p)) return;
  auto rest = s.substr(at + 1);
  auto const colon = rest.find(':');
  if (std::stoi(std::string(rest.substr(0, colon))) != rank) return;
  if (colon != std::string_view::npos) {
    auto v = rest.substr(colon + 1);
    bool const or_later = !v.empty() && v.back() == '+';
    if (or_later) v.remove_suffix(1);
    auto const want = std::stoull(std::string(v));
    if (or_later ? version < want : version != want) return;
  }
  std::fprintf(stderr, "strata[rank %d]: fault injection: SIGKILL at %s of version %llu\n", rank,
               std::string(to_string(p)).c_str(), static_cast<unsigned long long>(version));
  std::fflush(stderr);
  std::raise(SIGKILL);
#endif
}

}  // namespace strata::fault
