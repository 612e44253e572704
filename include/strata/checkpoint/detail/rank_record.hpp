#pragma once
/// \file
/// \brief Per-rank commit records of the eventual protocol (`consistency::eventual`, SPEC R4): each
/// rank, once its shard of version v is durable and verified, writes `<directory>/.strata.ranks/
/// v<V>.r<R>` saying so; rank 0 writes the version's manifest once every rank's record is there.
/// Not a public header.

#include <strata/detail/hash.hpp>
#include <strata/detail/posix_io.hpp>
#include <strata/error.hpp>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace strata::checkpoint::detail {

/// \brief What one rank says of its shard of one version.
struct rank_record {
  std::uint64_t version = 0;
  std::uint32_t rank = 0, ranks = 0;
  std::uint64_t step = 0;
  std::int64_t created_unix_ms = 0;
  std::uint64_t bytes = 0, xxh3 = 0, index_bytes = 0, index_xxh3 = 0;
  std::vector<std::uint64_t> depends_on;

  [[nodiscard]] std::string to_text() const {
    std::ostringstream o;
    o << "strata-rank-record 1\nversion " << version << "\nrank " << rank << "\nranks " << ranks << "\nstep " << step
      << "\ncreated_unix_ms " << created_unix_ms << "\nbytes " << bytes << "\nxxh3 " << xxh3 << "\nindex_bytes "
      << index_bytes << "\nindex_xxh3 " << index_xxh3 << "\ndepends_on";
    for (auto d : depends_on) o << ' ' << d;
    o << '\n';
    auto body = o.str();
    return body + "check " + std::to_string(strata::detail::xxh3(body)) + "\n";
  }
  /// \brief The record in `text`, or nullopt when it is not one (torn, damaged, another format).
  static std::optional<rank_record> parse(std::string const& text) {
    auto const at = text.rfind("check ");
    if (at == std::string::npos || text.compare(0, 21, "strata-rank-record 1\n") != 0) return std::nullopt;
    auto const body = text.substr(0, at);
    std::uint64_t check = 0;
    if (std::sscanf(text.c_str() + at, "check %" SCNu64, &check) != 1 || check != strata::detail::xxh3(body))
      return std::nullopt;
    std::istringstream in{body.substr(21)};
    rank_record r;
    std::string key;
    while (in >> key) {
      if (key == "depends_on") {
        std::string rest;
        std::getline(in, rest);
        std::istringstream d{rest};
        for (std::uint64_t x; d >> x;) r.depends_on.push_back(x);
        continue;
      }
      std::uint64_t x = 0;
      std::int64_t s = 0;
      if (key == "created_unix_ms" ? !(in >> s) : !(in >> x)) return std::nullopt;
      if (key == "version") r.version = x;
      else if (key == "rank") r.rank = static_cast<std::uint32_t>(x);
      else if (key == "ranks") r.ranks = static_cast<std::uint32_t>(x);
      else if (key == "step") r.step = x;
      else if (key == "created_unix_ms") r.created_unix_ms = s;
      else if (key == "bytes") r.bytes = x;
      else if (key == "xxh3") r.xxh3 = x;
      else if (key == "index_bytes") r.index_bytes = x;
      else if (key == "index_xxh3") r.index_xxh3 = x;
    }
    return r;
  }
};

/// \brief The folder of the per-rank records under a checkpoint directory.
inline std::filesystem::path rank_records_dir(std::filesystem::path const& dir) { return dir / ".strata.ranks"; }

inline std::filesystem::path rank_record_path(std::filesystem::path const& dir, std::uint64_t v, std::uint32_t rank) {
  char name[64];
  std::snprintf(name, sizeof name, "v%08" PRIu64 ".r%" PRIu32, v, rank);
  return rank_records_dir(dir) / name;
}

/// \brief Writes `r` durably (temporary file, fsync, rename, fsync of the folder).
inline void write_rank_record(std::filesystem::path const& dir, rank_record const& r) {
  auto const text = r.to_text();
  strata::detail::write_file_durable(rank_record_path(dir, r.version, r.rank), std::as_bytes(std::span(text)),
                                     strata::detail::io_context<checkpoint_error>{"rank " + std::to_string(r.rank), {}});
}

/// \brief Every record found of a version above `above`: version → rank → record (damaged ones are
/// left out and named in `bad`; older ones are not read).
inline std::map<std::uint64_t, std::map<std::uint32_t, rank_record>> read_rank_records(std::filesystem::path const& dir,
                                                                                      std::vector<std::string>* bad = nullptr,
                                                                                      std::uint64_t above = 0) {
  std::map<std::uint64_t, std::map<std::uint32_t, rank_record>> out;
  std::error_code ec;
  for (auto const& e : std::filesystem::directory_iterator(rank_records_dir(dir), ec)) {
    auto const name = e.path().filename().string();
    unsigned long long v = 0;
    unsigned r = 0;
    char tail = 0;
    if (std::sscanf(name.c_str(), "v%llu.r%u%c", &v, &r, &tail) != 2) continue;  // temporary files, others
    if (v <= above) continue;
    std::optional<rank_record> rec;
    try {
      auto const bytes = strata::detail::read_file(e.path());
      rec = rank_record::parse(std::string(reinterpret_cast<char const*>(bytes.data()), bytes.size()));
    } catch (std::exception const&) {
    }
    if (rec && rec->version == v && rec->rank == r) out[v][r] = *rec;
    else if (bad) bad->push_back(e.path().string());
  }
  return out;
}

/// \brief Removes rank `r`'s record of version `v` (and a temporary file a crash left).
inline void remove_rank_record(std::filesystem::path const& dir, std::uint64_t v, std::uint32_t r) {
  std::error_code ec;
  auto const p = rank_record_path(dir, v, r);
  std::filesystem::remove(p, ec);
  std::filesystem::remove(p.string() + ".tmp", ec);
}

}  // namespace strata::checkpoint::detail
