#pragma once
/// \file
/// \brief The manifest: a version's commit record, human-readable JSON with a hash chain.
///
/// A version is committed exactly when its manifest exists and verifies. It
/// records the version, a random id, the creation time, the rank count, the
/// checksum and size of every shard, the parent version with the hash of the
/// parent's manifest (so history forms a hash chain), the ranks' version vector,
/// and a checksum of itself so that a flipped bit is detected.

#include <strata/detail/hash.hpp>
#include <strata/error.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace strata::checkpoint {

/// \brief Size and checksum of one rank's shard.
struct shard_record {
  std::uint32_t rank = 0;
  std::string location;
  std::uint64_t bytes = 0;
  std::uint64_t xxh3 = 0;
  /// The index the shard begins with (`snapshot/index.hpp`): its size (0: none recorded, as in
  /// checkpoints written before indexes) and checksum. Written only when non-zero.
  std::uint64_t index_bytes = 0;
  std::uint64_t index_xxh3 = 0;
  friend bool operator==(shard_record const&, shard_record const&) = default;
};

/// \brief Link to the version this one was taken after (its parent in the history).
struct parent_link {
  std::uint64_t version = 0;
  std::string id;
  std::uint64_t manifest_xxh3 = 0;  ///< hash of the parent's manifest text
  friend bool operator==(parent_link const&, parent_link const&) = default;
};

/// \brief The commit record of one version.
struct manifest {
  static constexpr int format_version = 1;

  std::string id;
  std::uint64_t version = 0;
  std::int64_t created_unix_ms = 0;
  std::uint32_t ranks = 1;
  std::uint64_t step = 0;
  std::string snapshot;
  std::string storage;
  std::string consistency;
  std::optional<parent_link> parent;
  std::vector<std::uint64_t> version_vector;
  std::vector<shard_record> shards;
  /// \brief Versions this one needs to be restored (incremental chains: base first); empty for a
  /// self-contained version. Written only when non-empty, so older manifests read unchanged.
  std::vector<std::uint64_t> depends_on;

  /// \brief The JSON text written to storage, ending with its own checksum.
  [[nodiscard]] std::string to_text() const {
    auto j = body();
    j["self_xxh3"] = strata::detail::to_hex(strata::detail::xxh3(j.dump()));
    return j.dump(2) + "\n";
  }

  /// \brief Parses and verifies a manifest; `where` names it in errors.
  static manifest parse(std::string const& text, std::string const& where) {
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

  /// \brief A fresh random id (64 bits, hex).
  static std::string new_id() {
    std::random_device rd;
    std::uint64_t const v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^
                            static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    return strata::detail::to_hex(v);
  }
  static std::int64_t now_unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  /// \brief Creation time as ISO 8601 UTC.
  [[nodiscard]] std::string created_iso() const {
    std::time_t t = static_cast<std::time_t>(created_unix_ms / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
  }

 private:
  [[nodiscard]] nlohmann::json body() const {
    nlohmann::json j;
    j["format"] = "strata-manifest";
    j["format_version"] = format_version;
    j["id"] = id;
    j["version"] = version;
    j["created_unix_ms"] = created_unix_ms;
    j["created"] = created_iso();
    j["ranks"] = ranks;
    j["step"] = step;
    j["snapshot"] = snapshot;
    j["storage"] = storage;
    j["consistency"] = consistency;
    if (parent)
      j["parent"] = {{"version", parent->version}, {"id", parent->id}, {"manifest_xxh3", strata::detail::to_hex(parent->manifest_xxh3)}};
    else
      j["parent"] = nullptr;
    j["version_vector"] = version_vector;
    if (!depends_on.empty()) j["depends_on"] = depends_on;
    j["shards"] = nlohmann::json::array();
    for (auto const& s : shards) {
      nlohmann::json e = {{"rank", s.rank}, {"location", s.location}, {"bytes", s.bytes}, {"xxh3", strata::detail::to_hex(s.xxh3)}};
      if (s.index_bytes) {
        e["index_bytes"] = s.index_bytes;
        e["index_xxh3"] = strata::detail::to_hex(s.index_xxh3);
      }
      j["shards"].push_back(std::move(e));
    }
    return j;
  }
};

}  // namespace strata::checkpoint
