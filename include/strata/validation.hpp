#pragma once
/// \file
/// \brief `strata::validating`: a policy that checks its own parameters, and the sentences it throws.
///
/// The checkpointer calls `validate()` on each of its policies at construction and throws the
/// first complaint on every rank as a `usage_error` naming the option (SPEC O6).

#include <strata/error.hpp>

#include <concepts>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <string_view>

namespace strata {

/// \brief A policy (trigger, retention, snapshot, storage, ...) whose parameters can be wrong:
/// `p.validate()` throws `usage_error` with one sentence naming the parameter and its value.
///
/// \code
/// struct every_k_steps {
///   std::uint64_t k = 10;
///   void validate() const { strata::detail::require(k != 0, "every_k_steps", "k", "0", "must be at least 1"); }
///   // ... the trigger members
/// };
/// \endcode
template <class P>
concept validating = requires(P const& p) {
  { p.validate() } -> std::same_as<void>;
};

namespace detail {

/// \brief A number as a message shows it: "-1", "0.5", "nan", "inf".
inline std::string number(double v) {
  if (v != v) return "nan";
  if (v > std::numeric_limits<double>::max()) return "inf";
  if (v < -std::numeric_limits<double>::max()) return "-inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

/// \brief Throws `usage_error("POLICY{.FIELD = VALUE}: RULE")` unless `ok`.
inline void require(bool ok, std::string_view policy, std::string_view field, std::string_view value,
                    std::string_view rule) {
  if (ok) return;
  std::string s(policy);
  s.append("{.").append(field).append(" = ").append(value).append("}: ").append(rule);
  throw usage_error(s);
}

/// \brief `require` for a number of seconds: finite, and above 0 (or 0 or more with `zero_ok`).
inline void require_seconds(std::string_view policy, std::string_view field, double v, bool zero_ok = false) {
  require(v - v == 0 && (zero_ok ? v >= 0 : v > 0), policy, field, number(v),
          zero_ok ? "must be a finite number of seconds, 0 or more" : "must be a finite number of seconds above 0");
}

/// \brief `require` for a count that must be at least `least`.
inline void require_at_least(std::string_view policy, std::string_view field, std::uint64_t v, std::uint64_t least,
                             std::string_view why = {}) {
  std::string rule = "must be at least " + std::to_string(least);
  if (!why.empty()) rule.append(" (").append(why).append(")");
  require(v >= least, policy, field, std::to_string(v), rule);
}

/// \brief Calls `p.validate()` where `P` offers it, naming `option` in front of its complaint.
template <class P>
void validate_option(std::string_view option, P const& p) {
  if constexpr (validating<P>) {
    try {
      p.validate();
    } catch (usage_error const& e) {
      throw usage_error("checkpointer option " + std::string(option) + ": " + e.what());
    }
  }
}

}  // namespace detail
}  // namespace strata
