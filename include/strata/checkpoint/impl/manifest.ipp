#pragma once
/// \file
/// \brief Definitions of `checkpoint/manifest.hpp` (the JSON encoding): included by that header, or
/// compiled once in the program's `strata/src.hpp` translation unit under STRATA_SEPARATE_COMPILATION.

#include <strata/checkpoint/manifest.hpp>
#include <strata/detail/hash.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <ctime>
#include <random>

namespace strata::checkpoint {

namespace detail {
/// The manifest as a JSON object, without its own checksum.
STRATA_INLINE nlohmann::json manifest_body(manifest const& m) {
  nlohmann::json j;
  j["format"] = "strata-manifest";
  j["format_version"] = m.format_version;
  j["id"] = m.id;
  j["version"] = m.version;
  j["created_unix_ms"] = m.created_unix_ms;
  j["created"] = m.created_iso();
  j["ranks"] = m.ranks;
  j["step"] = m.step;
  j["snapshot"] = m.snapshot;
  j["storage"] = m.storage;
  j["consistency"] = m.consistency;
  if (m.parent)
    j["parent"] = {{"version", m.parent->version}, {"id", m.parent->id}, {"manifest_xxh3", strata::detail::to_hex(m.parent->manifest_xxh3)}};
  else
    j["parent"] = nullptr;
  j["version_vector"] = m.version_vector;
  if (!m.depends_on.empty()) j["depends_on"] = m.depends_on;
  j["shards"] = nlohmann::json::array();
  for (auto const& s : m.shards) {
    nlohmann::json e = {{"rank", s.rank}, {"location", s.location}, {"bytes", s.bytes}, {"xxh3", strata::detail::to_hex(s.xxh3)}};
    if (s.index_bytes) {
      e["index_bytes"] = s.index_bytes;
      e["index_xxh3"] = strata::detail::to_hex(s.index_xxh3);
    }
    j["shards"].push_back(std::move(e));
  }
  return j;
}
}  // namespace detail

/// The JSON text written to storage, ending with its own checksum.
STRATA_INLINE std::string manifest::to_text() const {
  auto j = detail::manifest_body(*this);
  j["self_xxh3"] = strata::detail::to_hex(strata::detail::xxh3(j.dump()));
  return j.dump(2) + "\n";
}

/// Parses and verifies a manifest; `where` names it in errors.
STRATA_INLINE manifest manifest::parse(std::string const& text, std::string const& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (nlohmann::json::exception const& e) {
    throw error(where + ": not valid JSON (" + e.what() + ")");
  }
  try {
    if (!j.is_object() || j.value("format", "") != "strata-manifest")
      throw error("not a strata manifest");
    if (j.at("format_version").get<int>() != format_version)
      throw error("unsupported manifest format_version " + j.at("format_version").dump());
    auto const self = j.at("self_xxh3").get<std::string>();
    j.erase("self_xxh3");
    if (strata::detail::from_hex(self) != strata::detail::xxh3(j.dump()))
      throw error("manifest checksum mismatch (the file was altered or damaged)");
    manifest m;
    m.id = j.at("id").get<std::string>();
    m.version = j.at("version").get<std::uint64_t>();
    m.created_unix_ms = j.at("created_unix_ms").get<std::int64_t>();
    m.ranks = j.at("ranks").get<std::uint32_t>();
    m.step = j.at("step").get<std::uint64_t>();
    m.snapshot = j.at("snapshot").get<std::string>();
    m.storage = j.at("storage").get<std::string>();
    m.consistency = j.at("consistency").get<std::string>();
    if (!j.at("parent").is_null()) {
      auto const& p = j.at("parent");
      auto h = strata::detail::from_hex(p.at("manifest_xxh3").get<std::string>());
      if (!h) throw error("parent.manifest_xxh3 is not 16 hex digits");
      m.parent = parent_link{p.at("version").get<std::uint64_t>(), p.at("id").get<std::string>(), *h};
    }
    m.version_vector = j.at("version_vector").get<std::vector<std::uint64_t>>();
    for (auto const& s : j.at("shards")) {
      auto h = strata::detail::from_hex(s.at("xxh3").get<std::string>());
      if (!h) throw error("a shard's xxh3 is not 16 hex digits");
      shard_record rec{s.at("rank").get<std::uint32_t>(), s.at("location").get<std::string>(),
                       s.at("bytes").get<std::uint64_t>(), *h};
      if (auto i = s.find("index_bytes"); i != s.end()) {
        auto ih = strata::detail::from_hex(s.at("index_xxh3").get<std::string>());
        if (!ih) throw error("a shard's index_xxh3 is not 16 hex digits");
        rec.index_bytes = i->get<std::uint64_t>();
        rec.index_xxh3 = *ih;
        if (rec.index_bytes > rec.bytes) throw error("a shard's index is larger than the shard");
      }
      m.shards.push_back(std::move(rec));
    }
    if (auto d = j.find("depends_on"); d != j.end()) m.depends_on = d->get<std::vector<std::uint64_t>>();
    for (auto d : m.depends_on)
      if (d >= m.version) throw error("depends on version " + std::to_string(d) + ", which is not older");
    if (m.shards.size() != m.ranks) throw error("lists " + std::to_string(m.shards.size()) + " shards for " + std::to_string(m.ranks) + " ranks");
    for (std::uint32_t r = 0; r < m.ranks; ++r)
      if (m.shards[r].rank != r) throw error("shard list is not ordered by rank");
    return m;
  } catch (nlohmann::json::exception const& e) {
    throw error(where + ": malformed manifest (" + e.what() + ")");
  } catch (error const& e) {
    throw error(where + ": " + e.what());
  }
}

/// A fresh random id (64 bits, hex).
STRATA_INLINE std::string manifest::new_id() {
  std::random_device rd;
  std::uint64_t const v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^
                          static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  return strata::detail::to_hex(v);
}
STRATA_INLINE std::int64_t manifest::now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
/// Creation time as ISO 8601 UTC.
STRATA_INLINE std::string manifest::created_iso() const {
  std::time_t t = static_cast<std::time_t>(created_unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace strata::checkpoint
