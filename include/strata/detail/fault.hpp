#pragma once
/// \file
/// \brief Fault injection for tests: crash a chosen rank at a named point of any layer.
///
/// Compiled in only when `STRATA_ENABLE_FAULT_INJECTION` is defined (strata's own
/// tests, examples and benchmarks define it). At run time the environment variable
///
///     STRATA_FAULT=<phase>@<rank>[:<version>[+]]
///
/// makes that rank `raise(SIGKILL)` when it reaches the point named `<phase>` (for the given
/// version, or the first one). `:<version>+` means the first version from that one on that
/// reaches the point: an asynchronous writer that falls behind supersedes a waiting version, which
/// then never reaches the points of its write.
///
/// The mechanism knows no layer; each layer names its own points next to its code:
/// `strata::storage::fault_points` (`writing_shard`, `sending_partner`),
/// `strata::consistency::fault_points` (`after_shard`, `before_commit`, `after_commit`) and
/// `strata::checkpoint::fault_points` (`writer_staged`).

#include <strata/checkpoint/log.hpp>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

namespace strata::fault {

/// \brief A parsed `STRATA_FAULT` value: which rank to kill at which point, and for which versions.
struct trigger {
  std::string phase;
  int rank = 0;
  std::optional<std::uint64_t> version;  ///< unset: whichever version reaches the point first
  bool or_later = false;                 ///< `:<version>+`: that version or any later one

  /// \brief Parses `<phase>@<rank>[:<version>[+]]`; nullopt when there is no `@`.
  /// A rank or version that is not a number throws (`std::stoi`'s and `std::stoull`'s exceptions).
  static std::optional<trigger> parse(std::string_view text) {
    auto const at = text.find('@');
    if (at == std::string_view::npos) return std::nullopt;
    trigger t;
    t.phase = std::string(text.substr(0, at));
    auto const rest = text.substr(at + 1);
    auto const colon = rest.find(':');
    t.rank = std::stoi(std::string(rest.substr(0, colon)));
    if (colon != std::string_view::npos) {
      auto v = rest.substr(colon + 1);
      t.or_later = !v.empty() && v.back() == '+';
      if (t.or_later) v.remove_suffix(1);
      t.version = std::stoull(std::string(v));
    }
    return t;
  }

  /// \brief Whether this trigger kills `rank` when it reaches `phase` for `version`.
  [[nodiscard]] bool fires_at(std::string_view at_phase, int at_rank, std::uint64_t at_version) const noexcept {
    if (at_phase != phase || at_rank != rank) return false;
    if (!version) return true;
    return or_later ? at_version >= *version : at_version == *version;
  }
};

/// \brief Kills this process with SIGKILL if `STRATA_FAULT` names this point, rank and version.
///
/// `phase` is one of the points a layer names in its `fault_points`; the line
/// "strata[rank R]: fault injection: SIGKILL at PHASE of version V" goes to stderr first.
inline void point([[maybe_unused]] std::string_view phase, [[maybe_unused]] int rank,
                  [[maybe_unused]] std::uint64_t version) {
#ifdef STRATA_ENABLE_FAULT_INJECTION
  char const* spec = std::getenv("STRATA_FAULT");
  if (!spec || !*spec) return;
  std::string_view const s{spec};
  if (s.substr(0, s.find('@')) != phase) return;  // a spec for another point is not parsed further
  auto const t = trigger::parse(s);
  if (!t || !t->fires_at(phase, rank, version)) return;
  strata::detail::write_log_line(std::cerr, rank,
                                 "fault injection: SIGKILL at " + std::string(phase) + " of version " +
                                     std::to_string(version));
  std::raise(SIGKILL);
#endif
}

}  // namespace strata::fault
