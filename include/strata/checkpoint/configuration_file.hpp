#pragma once
/// \file
/// \brief Configuration files (TOML, through toml++) and `load_configuration`: code < file <
/// environment (SPEC O2). Keys: docs/configuration.md. The only strata header that includes toml++.
///
/// Without toml++ (strata configured without libtomlplusplus-dev: no `STRATA_HAVE_TOMLPLUSPLUS`),
/// reading a file is a `usage_error` naming the package; environment variables still work.

#include <strata/checkpoint/configuration.hpp>
#include <strata/error.hpp>

#ifdef STRATA_HAVE_TOMLPLUSPLUS
#include <toml++/toml.h>
#endif

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace strata::checkpoint {

namespace detail {

#ifdef STRATA_HAVE_TOMLPLUSPLUS
inline std::string place(std::string const& file, toml::source_region const& r) {
  return file + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column);
}

inline std::string toml_type(toml::node const& n) {
  switch (n.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    default: return "a date or time";
  }
}

/// The value of `n` as key type `t`; throws `usage_error` saying what was expected.
inline config_value from_toml(toml::node const& n, value_type t) {
  auto fail = [&]() -> config_value { throw usage_error("is " + toml_type(n) + ", not " + type_phrase(t)); };
  switch (t) {
    case value_type::boolean:
      if (auto const* b = n.as_boolean()) return b->get();
      return fail();
    case value_type::count:
      if (auto const* i = n.as_integer()) {
        if (i->get() < 0) throw usage_error("is " + std::to_string(i->get()) + ", not " + type_phrase(t));
        return static_cast<std::uint64_t>(i->get());
      }
      return fail();
    case value_type::integer:
      if (auto const* i = n.as_integer()) return static_cast<std::int64_t>(i->get());
      return fail();
    case value_type::real:
      if (auto const* d = n.as_floating_point()) return d->get();
      if (auto const* i = n.as_integer()) return static_cast<double>(i->get());
      return fail();
    case value_type::text:
      if (auto const* s = n.as_string()) return s->get();
      return fail();
    case value_type::text_list:
      if (auto const* a = n.as_array()) {
        std::vector<std::string> out;
        for (auto const& e : *a) {
          auto const* s = e.as_string();
          if (!s) throw usage_error("holds " + toml_type(e) + ", not only strings");
          out.push_back(s->get());
        }
        return out;
      }
      return fail();
  }
  return fail();
}

/// Collects the values of table `t` (at dotted `prefix`) into `out`; unknown keys are errors.
inline void collect(toml::table const& t, std::string const& prefix, std::string const& file, source_values& out) {
  for (auto const& [k, node] : t) {
    std::string const key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    auto const where = place(file, k.source());
    if (auto const* sub = node.as_table(); sub && is_table(key)) {
      collect(*sub, key, file, out);
      continue;
    }
    auto const* spec = find_key(key);
    if (!spec && !node.is_table()) spec = find_key(key + ".kind");  // `trigger = "never"`: [trigger] kind = "never"
    if (!spec) throw usage_error(where + ": unknown key '" + key + "'" + did_you_mean(key, key_and_table_names()));
    auto const named = where + ": key '" + std::string(spec->name) + "'";
    try {
      out.items.push_back({std::string(spec->name), from_toml(node, spec->type), named});
    } catch (usage_error const& e) {
      throw usage_error(named + " " + e.what());
    }
  }
}
#endif

}  // namespace detail

/// \brief Applies the TOML text `text` (read from `file`, which messages name) to `c`.
/// \throws usage_error naming the file, the line and the key: a syntax error, an unknown key (with
/// the closest known one), a value of the wrong type or one that cannot serve.
inline configuration& apply_toml([[maybe_unused]] configuration& c, [[maybe_unused]] std::string_view text,
                                  std::string const& file) {
#ifdef STRATA_HAVE_TOMLPLUSPLUS
  toml::table t;
  try {
    t = toml::parse(text, file);
  } catch (toml::parse_error const& e) {
    throw usage_error(detail::place(file, e.source()) + ": not valid TOML: " + std::string(e.description()));
  }
  detail::source_values values;
  detail::collect(t, "", file, values);
  values.apply(c);
  return c;
#else
  throw usage_error("cannot read configuration file " + file +
                    ": strata was built without toml++ (install libtomlplusplus-dev and configure again); "
                    "STRATA_* environment variables still work");
#endif
}

/// \brief Applies the TOML file `file` to `c`. \throws usage_error naming the file when it cannot be
/// read, and as `apply_toml`.
inline configuration& apply_file(configuration& c, std::filesystem::path const& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec))
    throw usage_error("configuration file " + file.string() + " cannot be read: " +
                      (std::filesystem::exists(file, ec) ? "not a regular file" : "no such file"));
  std::string text;
  if (std::FILE* f = std::fopen(file.c_str(), "rb")) {
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
    bool const bad = std::ferror(f) != 0;
    std::fclose(f);
    if (bad) throw usage_error("configuration file " + file.string() + " cannot be read: read error");
  } else {
    throw usage_error("configuration file " + file.string() + " cannot be read: " + std::strerror(errno));
  }
  return apply_toml(c, text, file.string());
}

/// \brief `c` (the program's own settings: code), then the file `file` if given, then the file
/// named by `STRATA_CONFIG` if set, then the `STRATA_<KEY>` variables: later sources win.
/// `env` (for tests): the variables to use instead of the process's.
[[nodiscard]] inline configuration load_configuration(configuration c = {}, std::filesystem::path const& file = {},
                                                      environment const* env = nullptr) {
  auto const vars = env ? *env : detail::process_environment();
  if (!file.empty()) apply_file(c, file);
  if (auto it = vars.find("STRATA_CONFIG"); it != vars.end() && !it->second.empty() &&
                                            std::filesystem::path(it->second) != file)
    apply_file(c, it->second);
  apply_environment(c, vars);
  return c;
}

}  // namespace strata::checkpoint
