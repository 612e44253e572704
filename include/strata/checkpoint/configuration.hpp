#pragma once
/// \file
/// \brief `checkpoint::configuration`: every checkpointer option and policy choice as plain values,
/// settable from code, a configuration file (`checkpoint/configuration_file.hpp`) and `STRATA_*`
/// environment variables (SPEC O2). Keys, defaults and precedence: docs/configuration.md.
///
/// This header reads no files (no TOML parser): a program that only takes environment variables
/// includes this one; `checkpoint/configured.hpp` turns a configuration into run-time policies.

#include <strata/checkpoint/log.hpp>
#include <strata/checkpoint/preemption.hpp>
#include <strata/checkpoint/retention.hpp>
#include <strata/error.hpp>
#include <strata/replay/fsync_policy.hpp>
#include <strata/trigger/adaptive.hpp>
#include <strata/trigger/every_n.hpp>
#include <strata/trigger/every_seconds.hpp>
#include <strata/trigger/young_daly.hpp>
#include <strata/validation.hpp>

#ifdef STRATA_HAVE_ZSTD
#include <zstd.h>
#endif

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

extern "C" char** environ;  // NOLINT: POSIX

namespace strata::checkpoint {

/// \brief The checkpointer's options and policy choices as values (what a configuration file says).
///
/// The defaults are the library's (`checkpointer<>::options`); a program sets its own in code, then
/// `load_configuration` (or `apply_file`, `apply_environment`) overrides them: code < file <
/// environment. Kinds are the names the file uses (`snapshot = "incremental"`, ...); the parameters
/// of every policy are kept, chosen or not.
///
/// \code
/// strata::checkpoint::configuration cfg;
/// cfg.directory = "heat_ckpt";                       // code
/// cfg = strata::checkpoint::load_configuration(cfg);  // STRATA_CONFIG's file, then STRATA_* variables
/// strata::configured_checkpointer<> ckpt{MPI_COMM_WORLD, strata::checkpoint::to_options(cfg)};
/// \endcode
struct configuration {
  // Checkpointer options (the names of checkpointer::options).
  std::filesystem::path directory = "strata_checkpoints";
  bool verify_after_write = false;
  bool check_free_space = true;
  bool async = false;
  std::uint64_t memory_limit_bytes = 0;
  verbosity log_level = verbosity::warnings;
  bool lock_directory = true;
  double lock_lease_seconds = 30.0;
  bool allow_resize = true;
  std::filesystem::path metrics_file;
  double metrics_period_seconds = 0.0;
  double progress_after_seconds = 5.0;
  bool replay_log = false;             ///< the application log (SPEC R9)
  std::filesystem::path log_directory; ///< empty: <directory>/.strata.log
  replay::fsync_policy log_fsync = replay::fsync_policy::every_record;
  preemption::options preemption{};

  // Snapshot: "full", "incremental" or "compressed" (zstd over `compressed_inner`).
  std::string snapshot = "full";
  std::uint64_t full_block_bytes = 64 * 1024;         ///< full: block hashes of replicated/distributed regions
  std::uint64_t incremental_block_bytes = 64 * 1024;  ///< incremental: one of `incremental_block_sizes`
  std::uint64_t incremental_max_chain = 8;
  double incremental_rebase_fraction = 0.5;           ///< a delta this large (of the state) or more: a base instead
  std::uint64_t full_sample_every = 32;               ///< full: one block in this many hashed to estimate change
  std::string compressed_inner = "incremental";       ///< "full" or "incremental"
  std::int64_t compressed_level = 1;                  ///< zstd level

  // Storage: "posix", "mpiio", "node_local" or "multilevel" (fast level below, posix shared level).
  std::string storage = "posix";
  std::filesystem::path node_local_path;              ///< empty: the checkpointer's directory
  std::string node_local_redundancy = "none";         ///< none | partner | xor | rs
  std::uint64_t node_local_group_size = 0;
  std::uint64_t node_local_parity = 2;
  std::string multilevel_fast = "posix";              ///< posix (in DIR/fast) | partner | node_local
  std::uint64_t multilevel_flush_every = 4;
  bool multilevel_background = true;
  std::uint64_t multilevel_keep_flushed = 2;

  // Trigger: "every_n", "every_seconds", "young_daly", "adaptive" or "never".
  std::string trigger = "every_n";
  trigger::every_n every_n{};
  trigger::every_seconds every_seconds{};
  trigger::young_daly young_daly{};
  trigger::adaptive adaptive{};

  // Retention ("keep_last": one kind today) and consistency ("coordinated" or "eventual").
  std::string retention = "keep_last";
  retention::keep_last<> keep_last{};
  std::string consistency = "coordinated";
};

/// \brief Block sizes `snapshot::incremental` is instantiated for in run-time configurations.
inline constexpr std::uint64_t incremental_block_sizes[] = {4 * 1024, 16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024};

/// \brief Environment variables by name (for tests; the process's own by default).
using environment = std::map<std::string, std::string>;

namespace detail {

using config_value = std::variant<bool, std::uint64_t, std::int64_t, double, std::string, std::vector<std::string>>;
enum class value_type { boolean, count, integer, real, text, text_list };

/// One key: its dotted name, the type of its value, and how it sets the configuration (throws
/// `usage_error` with a rule when the value cannot serve).
struct config_key {
  std::string_view name;
  value_type type;
  void (*set)(configuration&, config_value const&);
};

inline std::string type_phrase(value_type t) {
  switch (t) {
    case value_type::boolean: return "a boolean (true or false)";
    case value_type::count: return "an integer, 0 or more";
    case value_type::integer: return "an integer";
    case value_type::real: return "a number";
    case value_type::text: return "a string";
    case value_type::text_list: return "an array of strings";
  }
  return "?";
}

/// `v` must be one of `allowed`; returns it.
inline std::string const& choose(std::string const& v, std::initializer_list<std::string_view> allowed) {
  for (auto a : allowed)
    if (v == a) return v;
  std::string list;
  for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  throw usage_error("is \"" + v + "\"; it must be one of " + list);
}

inline int signal_number(std::string const& name) {
  std::string up;
  for (char ch : name) up += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (!up.empty() && std::all_of(up.begin(), up.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); }))
    return std::atoi(up.c_str());
  if (!up.starts_with("SIG")) up = "SIG" + up;
  for (int s = 1; s < 65; ++s)
    if (preemption::signal_name(s) == up) return s;
  throw usage_error("names no signal strata knows: \"" + name + "\" (e.g. \"SIGTERM\", \"SIGUSR1\", or a number)");
}

template <class T>
T const& get(config_value const& v) {
  return std::get<T>(v);
}

/// Every key, in the order of docs/configuration.md.
inline std::span<const config_key> config_keys() {
  using c = configuration;
  using v = config_value const&;
  static constexpr config_key keys[] = {
      {"directory", value_type::text, [](c& x, v y) { x.directory = get<std::string>(y); }},
      {"verify_after_write", value_type::boolean, [](c& x, v y) { x.verify_after_write = get<bool>(y); }},
      {"check_free_space", value_type::boolean, [](c& x, v y) { x.check_free_space = get<bool>(y); }},
      {"async", value_type::boolean, [](c& x, v y) { x.async = get<bool>(y); }},
      {"memory_limit_bytes", value_type::count, [](c& x, v y) { x.memory_limit_bytes = get<std::uint64_t>(y); }},
      {"log_level", value_type::text,
       [](c& x, v y) {
         auto const& s = choose(get<std::string>(y), {"quiet", "warnings", "info"});
         x.log_level = s == "quiet" ? verbosity::quiet : s == "info" ? verbosity::info : verbosity::warnings;
       }},
      {"lock_directory", value_type::boolean, [](c& x, v y) { x.lock_directory = get<bool>(y); }},
      {"lock_lease", value_type::real, [](c& x, v y) { x.lock_lease_seconds = get<double>(y); }},
      {"allow_resize", value_type::boolean, [](c& x, v y) { x.allow_resize = get<bool>(y); }},
      {"metrics_file", value_type::text, [](c& x, v y) { x.metrics_file = get<std::string>(y); }},
      {"metrics_period", value_type::real, [](c& x, v y) { x.metrics_period_seconds = get<double>(y); }},
      {"progress_after", value_type::real, [](c& x, v y) { x.progress_after_seconds = get<double>(y); }},
      {"replay_log", value_type::boolean, [](c& x, v y) { x.replay_log = get<bool>(y); }},
      {"log_directory", value_type::text, [](c& x, v y) { x.log_directory = get<std::string>(y); }},
      {"log_fsync", value_type::text,
       [](c& x, v y) {
         auto const& s = choose(get<std::string>(y), {"every_record", "every_n", "never"});
         x.log_fsync = s == "never"     ? replay::fsync_policy::never
                       : s == "every_n" ? replay::fsync_policy::every_n
                                        : replay::fsync_policy::every_record;
       }},
      {"preemption.signals", value_type::text_list,
       [](c& x, v y) {
         auto const& names = get<std::vector<std::string>>(y);
         if (names.size() > preemption::signal_set::capacity)
           throw usage_error("lists " + std::to_string(names.size()) + " signals; at most " +
                             std::to_string(preemption::signal_set::capacity) + " can be caught");
         preemption::signal_set s;
         for (auto const& n : names) s.push_back(signal_number(n));
         x.preemption.signals = s;
       }},
      {"preemption.on_signal", value_type::text,
       [](c& x, v y) {
         x.preemption.on_signal =
             choose(get<std::string>(y), {"stop", "exit"}) == "exit" ? preemption::action::exit : preemption::action::stop;
       }},
      {"preemption.exit_status", value_type::integer,
       [](c& x, v y) {
         auto const s = get<std::int64_t>(y);
         if (s < 0 || s > 255) throw usage_error("is " + std::to_string(s) + "; an exit status lies in [0, 255]");
         x.preemption.exit_status = static_cast<int>(s);
       }},
      {"preemption.check_every", value_type::count, [](c& x, v y) { x.preemption.check_every = get<std::uint64_t>(y); }},
      {"snapshot.kind", value_type::text,
       [](c& x, v y) { x.snapshot = choose(get<std::string>(y), {"full", "incremental", "compressed"}); }},
      {"snapshot.full.block_bytes", value_type::count, [](c& x, v y) { x.full_block_bytes = get<std::uint64_t>(y); }},
      {"snapshot.incremental.block_bytes", value_type::count,
       [](c& x, v y) {
         auto const b = get<std::uint64_t>(y);
         if (std::find(std::begin(incremental_block_sizes), std::end(incremental_block_sizes), b) ==
             std::end(incremental_block_sizes)) {
           std::string list;
           for (auto s : incremental_block_sizes) list += (list.empty() ? "" : ", ") + std::to_string(s);
           throw usage_error("is " + std::to_string(b) + "; a run-time configuration offers " + list +
                             " (other sizes: snapshot::incremental<B> in code)");
         }
         x.incremental_block_bytes = b;
       }},
      {"snapshot.incremental.max_chain", value_type::count,
       [](c& x, v y) { x.incremental_max_chain = get<std::uint64_t>(y); }},
      {"snapshot.incremental.rebase_fraction", value_type::real,
       [](c& x, v y) { x.incremental_rebase_fraction = get<double>(y); }},
      {"snapshot.full.sample_every", value_type::count, [](c& x, v y) { x.full_sample_every = get<std::uint64_t>(y); }},
      {"snapshot.compressed.inner", value_type::text,
       [](c& x, v y) { x.compressed_inner = choose(get<std::string>(y), {"full", "incremental"}); }},
      {"snapshot.compressed.level", value_type::integer, [](c& x, v y) { x.compressed_level = get<std::int64_t>(y); }},
      {"storage.kind", value_type::text,
       [](c& x, v y) { x.storage = choose(get<std::string>(y), {"posix", "mpiio", "node_local", "multilevel"}); }},
      {"storage.node_local.path", value_type::text, [](c& x, v y) { x.node_local_path = get<std::string>(y); }},
      {"storage.node_local.redundancy", value_type::text,
       [](c& x, v y) { x.node_local_redundancy = choose(get<std::string>(y), {"none", "partner", "xor", "rs"}); }},
      {"storage.node_local.group_size", value_type::count,
       [](c& x, v y) { x.node_local_group_size = get<std::uint64_t>(y); }},
      {"storage.node_local.parity", value_type::count, [](c& x, v y) { x.node_local_parity = get<std::uint64_t>(y); }},
      {"storage.multilevel.fast", value_type::text,
       [](c& x, v y) { x.multilevel_fast = choose(get<std::string>(y), {"posix", "partner", "node_local"}); }},
      {"storage.multilevel.flush_every", value_type::count,
       [](c& x, v y) { x.multilevel_flush_every = get<std::uint64_t>(y); }},
      {"storage.multilevel.background", value_type::boolean, [](c& x, v y) { x.multilevel_background = get<bool>(y); }},
      {"storage.multilevel.keep_flushed", value_type::count,
       [](c& x, v y) { x.multilevel_keep_flushed = get<std::uint64_t>(y); }},
      {"trigger.kind", value_type::text,
       [](c& x, v y) {
         x.trigger = choose(get<std::string>(y), {"every_n", "every_seconds", "young_daly", "adaptive", "never"});
       }},
      {"trigger.every_n.n", value_type::count, [](c& x, v y) { x.every_n.n = get<std::uint64_t>(y); }},
      {"trigger.every_seconds.seconds", value_type::real, [](c& x, v y) { x.every_seconds.seconds = get<double>(y); }},
      {"trigger.young_daly.mtbf_seconds", value_type::real, [](c& x, v y) { x.young_daly.mtbf_seconds = get<double>(y); }},
      {"trigger.young_daly.first_seconds", value_type::real, [](c& x, v y) { x.young_daly.first_seconds = get<double>(y); }},
      {"trigger.young_daly.min_seconds", value_type::real, [](c& x, v y) { x.young_daly.min_seconds = get<double>(y); }},
      {"trigger.young_daly.max_seconds", value_type::real, [](c& x, v y) { x.young_daly.max_seconds = get<double>(y); }},
      {"trigger.young_daly.window", value_type::count,
       [](c& x, v y) { x.young_daly.window = static_cast<std::size_t>(get<std::uint64_t>(y)); }},
      {"trigger.adaptive.min_steps", value_type::count, [](c& x, v y) { x.adaptive.min_steps = get<std::uint64_t>(y); }},
      {"trigger.adaptive.max_steps", value_type::count, [](c& x, v y) { x.adaptive.max_steps = get<std::uint64_t>(y); }},
      {"trigger.adaptive.first_steps", value_type::count, [](c& x, v y) { x.adaptive.first_steps = get<std::uint64_t>(y); }},
      {"trigger.adaptive.low", value_type::real, [](c& x, v y) { x.adaptive.low = get<double>(y); }},
      {"trigger.adaptive.high", value_type::real, [](c& x, v y) { x.adaptive.high = get<double>(y); }},
      {"trigger.adaptive.max_overhead", value_type::real, [](c& x, v y) { x.adaptive.max_overhead = get<double>(y); }},
      {"retention.kind", value_type::text, [](c& x, v y) { x.retention = choose(get<std::string>(y), {"keep_last"}); }},
      {"retention.keep_last.count", value_type::count,
       [](c& x, v y) { x.keep_last.count = static_cast<std::size_t>(get<std::uint64_t>(y)); }},
      {"consistency.kind", value_type::text,
       [](c& x, v y) { x.consistency = choose(get<std::string>(y), {"coordinated", "eventual"}); }},
  };
  return keys;
}

inline config_key const* find_key(std::string_view name) {
  for (auto const& k : config_keys())
    if (k.name == name) return &k;
  return nullptr;
}

/// Whether `prefix` names a table of keys ("trigger", "trigger.adaptive", ...).
inline bool is_table(std::string_view prefix) {
  for (auto const& k : config_keys())
    if (k.name.size() > prefix.size() && k.name.starts_with(prefix) && k.name[prefix.size()] == '.') return true;
  return false;
}

/// The environment variable of a key: STRATA_ + upper case, dots as underscores; a family's `kind`
/// is the family's name alone (`snapshot.kind`: STRATA_SNAPSHOT).
inline std::string env_name(std::string_view key) {
  std::string k(key);
  if (k.ends_with(".kind")) k.resize(k.size() - 5);
  std::string out = "STRATA_";
  for (char ch : k) out += ch == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return out;
}

inline std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t const up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

/// " (did you mean 'X'?)" for the closest of `names` within a few edits of `wrong`, else "".
inline std::string did_you_mean(std::string_view wrong, std::vector<std::string> const& names) {
  std::string best;
  std::size_t d = std::max<std::size_t>(2, wrong.size() / 5) + 1;
  for (auto const& n : names)
    if (auto e = edit_distance(wrong, n); e < d) d = e, best = n;
  return best.empty() ? std::string{} : " (did you mean '" + best + "'?)";
}

inline std::vector<std::string> key_names() {
  std::vector<std::string> out;
  for (auto const& k : config_keys()) out.emplace_back(k.name);
  return out;
}

/// Every key and every table of keys ("trigger", "trigger.every_n"): what an unknown key may have meant.
inline std::vector<std::string> key_and_table_names() {
  std::set<std::string> out;
  for (auto const& k : config_keys())
    for (auto dot = k.name.find('.'); ; dot = k.name.find('.', dot + 1)) {
      out.emplace(k.name.substr(0, dot));
      if (dot == std::string_view::npos) break;
    }
  return {out.begin(), out.end()};
}

/// The policy (or option group) a key belongs to, checked as a whole once a source is applied.
inline std::string group_of(std::string_view key) {
  if (key.ends_with(".kind") || key.find('.') == std::string_view::npos) return "";
  if (key.starts_with("preemption.")) return "preemption";
  return std::string(key.substr(0, key.rfind('.')));
}

/// Throws `usage_error` with the first complaint about group `g` of `c` (values that must agree).
inline void check_group(configuration const& c, std::string const& g) {
  using strata::detail::number;
  using strata::detail::require;
  if (g.empty()) {
    strata::detail::require_seconds("checkpointer", "lock_lease", c.lock_lease_seconds);
    strata::detail::require_seconds("checkpointer", "metrics_period", c.metrics_period_seconds, true);
    require(!std::isnan(c.progress_after_seconds) && c.progress_after_seconds > 0, "checkpointer", "progress_after",
            number(c.progress_after_seconds), "must be a number of seconds above 0 (inf: no progress lines)");
    require(!c.directory.empty(), "checkpointer", "directory", "\"\"", "must name the directory of the checkpoints");
  } else if (g == "preemption") {
    c.preemption.validate();
  } else if (g == "snapshot.full") {
    strata::detail::require_at_least("full", "block_bytes", c.full_block_bytes, 1);
  } else if (g == "snapshot.incremental") {
    strata::detail::require_at_least("incremental", "max_chain", c.incremental_max_chain, 1, "1: every version a full base");
    strata::detail::require(c.incremental_rebase_fraction > 0, "incremental", "rebase_fraction",
                            strata::detail::number(c.incremental_rebase_fraction), "must be above 0 (above 1: never a base early)");
  } else if (g == "snapshot.compressed") {
#ifdef STRATA_HAVE_ZSTD
    require(c.compressed_level >= ZSTD_minCLevel() && c.compressed_level <= ZSTD_maxCLevel(), "zstd_codec", "level",
            std::to_string(c.compressed_level),
            "is not a zstd level (" + std::to_string(ZSTD_minCLevel()) + " to " + std::to_string(ZSTD_maxCLevel()) + ")");
#endif
  } else if (g == "storage.multilevel") {
    strata::detail::require_at_least("multilevel", "flush_every", c.multilevel_flush_every, 1);
    strata::detail::require_at_least("multilevel", "keep_flushed", c.multilevel_keep_flushed, 1,
                                     "0 would let retention remove every version from the slow level");
  } else if (g == "storage.node_local") {
    if (c.node_local_redundancy == "rs") strata::detail::require_at_least("node_local", "parity", c.node_local_parity, 1);
  } else if (g == "trigger.every_n") {
    c.every_n.validate();
  } else if (g == "trigger.every_seconds") {
    c.every_seconds.validate();
  } else if (g == "trigger.young_daly") {
    c.young_daly.validate();
  } else if (g == "trigger.adaptive") {
    c.adaptive.validate();
  } else if (g == "retention.keep_last") {
    c.keep_last.validate();
  }
}

/// Applies the values of one source (a file, the environment): each is set, then every group a
/// value touched is checked as a whole. `where(i)` names value i's place ("FILE:LINE:COLUMN" or
/// "environment variable NAME") for messages.
struct source_values {
  struct item {
    std::string key;
    config_value value;
    std::string where;
  };
  std::vector<item> items;

  /// All or nothing: `out` is changed only when every value and every group passed.
  void apply(configuration& out) const {
    configuration c = out;
    std::map<std::string, std::string> touched;  // group -> where its last value came from
    for (auto const& it : items) {
      auto const* k = find_key(it.key);
      try {
        k->set(c, it.value);
      } catch (usage_error const& e) {
        throw usage_error(it.where + " " + e.what());
      }
      touched[group_of(it.key)] = it.where;
    }
    for (auto const& [g, where] : touched) {
      try {
        check_group(c, g);
      } catch (usage_error const& e) {
        throw usage_error(where + ": " + e.what());
      }
    }
    out = std::move(c);
  }
};

inline std::string lower(std::string_view s) {
  std::string out;
  for (char ch : s) out += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

/// An environment variable's text as a value of type `t` (throws `usage_error` with what was expected).
inline config_value parse_text(std::string const& text, value_type t) {
  auto fail = [&]() -> config_value { throw usage_error("is \"" + text + "\", not " + type_phrase(t)); };
  switch (t) {
    case value_type::boolean: {
      auto const s = lower(text);
      if (s == "true" || s == "1" || s == "yes" || s == "on") return true;
      if (s == "false" || s == "0" || s == "no" || s == "off") return false;
      return fail();
    }
    case value_type::count: {
      std::uint64_t n = 0;
      auto const [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (text.empty() || ec != std::errc{} || p != text.data() + text.size()) return fail();
      return n;
    }
    case value_type::integer: {
      std::int64_t n = 0;
      auto const [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (text.empty() || ec != std::errc{} || p != text.data() + text.size()) return fail();
      return n;
    }
    case value_type::real: {
      char* end = nullptr;
      double const d = std::strtod(text.c_str(), &end);
      if (text.empty() || end != text.c_str() + text.size() || std::isspace(static_cast<unsigned char>(text[0])))
        return fail();
      return d;
    }
    case value_type::text: return text;
    case value_type::text_list: {
      std::vector<std::string> out;
      std::string cur;
      auto flush = [&] {
        auto const b = cur.find_first_not_of(" \t"), e = cur.find_last_not_of(" \t");
        if (b != std::string::npos) out.push_back(cur.substr(b, e - b + 1));
        cur.clear();
      };
      for (char ch : text) {
        if (ch == ',') flush();
        else cur += ch;
      }
      flush();
      return out;
    }
  }
  return fail();
}

inline environment process_environment() {
  environment out;
  for (char** e = environ; e && *e; ++e) {
    std::string_view const s(*e);
    if (!s.starts_with("STRATA_")) continue;
    auto const eq = s.find('=');
    if (eq != std::string_view::npos) out.emplace(std::string(s.substr(0, eq)), std::string(s.substr(eq + 1)));
  }
  return out;
}

}  // namespace detail

/// \brief The environment variable that sets `key` ("trigger.every_n.n": STRATA_TRIGGER_EVERY_N_N,
/// "snapshot.kind": STRATA_SNAPSHOT).
[[nodiscard]] inline std::string environment_variable(std::string_view key) { return detail::env_name(key); }

/// \brief Every configuration key, dotted ("directory", "trigger.every_n.n", ...).
[[nodiscard]] inline std::vector<std::string> configuration_keys() { return detail::key_names(); }

/// \brief Sets `key` (dotted, as in a file) from `text` as an environment variable would; throws
/// `usage_error` naming the key. For command lines that take `--set key=value`.
inline configuration& set_option(configuration& c, std::string const& key, std::string const& text) {
  auto const* k = detail::find_key(key);
  if (!k) throw usage_error("unknown configuration key '" + key + "'" + detail::did_you_mean(key, detail::key_and_table_names()));
  detail::source_values s;
  try {
    s.items.push_back({key, detail::parse_text(text, k->type), "configuration key '" + key + "'"});
  } catch (usage_error const& e) {
    throw usage_error("configuration key '" + key + "' " + e.what());
  }
  s.apply(c);
  return c;
}

/// \brief Applies the `STRATA_<KEY>` variables of `env` to `c` (see `environment_variable`).
///
/// A variable under a family's prefix (STRATA_SNAPSHOT_*, STRATA_STORAGE_*, STRATA_TRIGGER_*,
/// STRATA_RETENTION_*, STRATA_CONSISTENCY_*, STRATA_PREEMPTION_*) that names no key is an error
/// (with the closest name); other STRATA_* variables belong to other tools and are left alone.
/// Errors name the variable and its value.
inline configuration& apply_environment(configuration& c, environment const& env) {
  detail::source_values s;
  std::vector<std::string> names;
  for (auto const& k : detail::config_keys()) names.push_back(detail::env_name(k.name));
  static constexpr std::string_view families[] = {"STRATA_SNAPSHOT_",    "STRATA_STORAGE_",     "STRATA_TRIGGER_",
                                                  "STRATA_RETENTION_",   "STRATA_CONSISTENCY_", "STRATA_PREEMPTION_"};
  for (auto const& [name, text] : env) {
    if (!name.starts_with("STRATA_")) continue;
    detail::config_key const* key = nullptr;
    for (auto const& k : detail::config_keys())
      if (detail::env_name(k.name) == name) key = &k;
    if (!key) {
      if (std::any_of(std::begin(families), std::end(families), [&](auto f) { return name.starts_with(f); }))
        throw usage_error("environment variable " + name + " names no strata configuration key" +
                          detail::did_you_mean(name, names));
      continue;
    }
    std::string const where = "environment variable " + name + " (key '" + std::string(key->name) + "')";
    try {
      s.items.push_back({std::string(key->name), detail::parse_text(text, key->type), where});
    } catch (usage_error const& e) {
      throw usage_error(where + " " + e.what());
    }
  }
  s.apply(c);
  return c;
}

/// \brief Applies the process's `STRATA_<KEY>` environment variables to `c`.
inline configuration& apply_environment(configuration& c) { return apply_environment(c, detail::process_environment()); }

}  // namespace strata::checkpoint
