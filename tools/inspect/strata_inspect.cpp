// strata_inspect: lists the versions in one or more posix_dir checkpoint directories and verifies
// each one (manifest checksum, hash chain, every shard's size and checksum) without MPI, judging
// an incremental version by its whole chain: it is usable only if its own shards and those of
// every version it depends on (its manifest's depends_on) verify.
//
//   strata_inspect [--json] [--levels NAMES] DIR [DIR...]
//
// Several directories are the levels of one checkpoint (storage::multilevel: the fast level
// first, e.g. `strata_inspect --levels L1,L4 ckpt/fast ckpt`). Every version is listed with the
// levels that hold its commit record; each file is read from the first directory that has it,
// as storage::multilevel does.
//
// Exit status 0 when every committed version is usable, 1 when one is damaged or unusable,
// 2 on bad usage.
#include <strata/checkpoint/manifest.hpp>
#include <strata/comm/solo.hpp>
#include <strata/detail/dir_lock.hpp>
#include <strata/detail/hash.hpp>
#include <strata/storage/posix_dir.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <optional>

namespace {

namespace fs = std::filesystem;

struct problem {
  std::string brief;   ///< for a dependent version: "shard r00001 is corrupt"
  std::string detail;  ///< with the file: "DIR/v00000005/r00001.shard: checksum mismatch"
};

struct level {
  std::string name;
  fs::path dir;
  strata::storage::posix_dir st;
  strata::storage::listing listing;
};

struct version_row {
  std::uint64_t v = 0;
  std::optional<strata::checkpoint::manifest> m;
  std::vector<std::string> levels;        ///< levels holding its commit record
  std::vector<problem> own;               ///< its manifest and shards
  std::vector<std::string> notes;         ///< copies not read (another level's copy is read)
  std::optional<std::string> chain;       ///< why a version it depends on makes it unusable
};

std::string rank_name(std::uint32_t r) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "r%05u", r);
  return buf;
}

/// Checks one copy of a shard; nullopt when it matches its record.
std::optional<problem> check_shard(level const& l, std::uint64_t v, strata::checkpoint::shard_record const& s) {
  auto const where = l.st.shard_location(v, static_cast<int>(s.rank));
  try {
    auto const b = l.st.read_shard(v, static_cast<int>(s.rank));
    if (b.size() != s.bytes)
      return problem{"shard " + rank_name(s.rank) + " is truncated or replaced",
                     where + ": " + std::to_string(b.size()) + " bytes, manifest says " + std::to_string(s.bytes)};
    if (strata::detail::xxh3(b.span()) != s.xxh3)
      return problem{"shard " + rank_name(s.rank) + " is corrupt", where + ": checksum mismatch"};
  } catch (std::exception const& e) {
    return problem{"shard " + rank_name(s.rank) + " is missing or unreadable", e.what()};
  }
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "strata_inspect: list and verify the versions of a strata checkpoint directory. A version is ok only if "
      "its manifest and shards verify and so does every version it depends on (an incremental chain); a broken "
      "link is named. Several directories are the levels of one checkpoint, fast level first (storage::multilevel: "
      "DIR/fast then DIR); each version is listed with the levels that hold it, and each file is read from the "
      "first directory that has it. Exit status: 0 every committed version usable, 1 one is damaged or unusable, "
      "2 bad usage."};
  app.footer(
      "Examples:\n"
      "  strata_inspect ckpt                               one directory\n"
      "  strata_inspect --levels L1,L4 ckpt/fast ckpt      storage::multilevel: each version with the levels holding it\n"
      "  strata_inspect --json ckpt                        machine-readable");
  std::vector<std::string> dirs;
  std::string level_names;
  bool json = false;
  app.add_option("dirs", dirs, "checkpoint directory, or its levels fast first (e.g. ckpt/fast ckpt)")->required();
  app.add_option("--levels", level_names, "names of the directories' levels, comma-separated (default: L1,L2,...)");
  app.add_flag("--json", json, "machine-readable output");
  CLI11_PARSE(app, argc, argv);
  std::vector<std::string> names;
  for (std::size_t at = 0; !level_names.empty() && at <= level_names.size();) {
    auto const comma = std::min(level_names.find(',', at), level_names.size());
    names.push_back(level_names.substr(at, comma - at));
    at = comma + 1;
  }
  if (!names.empty() && names.size() != dirs.size()) {
    std::fprintf(stderr, "strata_inspect: --levels names %zu level(s) for %zu director%s\n", names.size(), dirs.size(),
                 dirs.size() == 1 ? "y" : "ies");
    return 2;
  }
  std::vector<level> levels(dirs.size());
  for (std::size_t i = 0; i < dirs.size(); ++i) {
    if (!fs::is_directory(dirs[i])) {
      std::fprintf(stderr, "strata_inspect: %s is not a directory\n", dirs[i].c_str());
      return 2;
    }
    auto& l = levels[i];
    l.name = names.empty() ? "L" + std::to_string(i + 1) : names[i];
    l.dir = dirs[i];
    try {
      l.st.attach(strata::comm::solo{}, l.dir);
    } catch (strata::usage_error const&) {
      // not writable (a read-only copy): attach has set the directory, which is all reading needs
    }
    l.listing = l.st.list();
  }
  bool const several = levels.size() > 1;

  // Versions committed on any level, each judged by its own files first.
  std::vector<std::uint64_t> committed;
  for (auto const& l : levels) committed.insert(committed.end(), l.listing.committed.begin(), l.listing.committed.end());
  std::ranges::sort(committed);
  committed.erase(std::unique(committed.begin(), committed.end()), committed.end());
  std::map<std::uint64_t, version_row> rows;
  std::map<std::uint64_t, std::uint64_t> manifest_hash;
  for (auto v : committed) {
    auto& row = rows[v];
    row.v = v;
    level const* from = nullptr;
    std::string text;
    for (auto const& l : levels) {
      if (!std::binary_search(l.listing.committed.begin(), l.listing.committed.end(), v)) continue;
      row.levels.push_back(l.name);
      try {
        auto t = l.st.read_commit(v);
        if (!t) continue;
        if (!from) {
          from = &l;
          text = std::move(*t);
        } else if (*t != text) {
          row.notes.push_back(l.st.commit_location(v) + " differs from " + from->st.commit_location(v) +
                              " (the latter is read)");
        }
      } catch (std::exception const& e) {
        if (!from) row.own.push_back({"its commit record is unreadable", e.what()});
      }
    }
    if (!from) {
      if (row.own.empty()) row.own.push_back({"its commit record is missing", "no level holds a readable commit record"});
      continue;
    }
    try {
      manifest_hash[v] = strata::detail::xxh3(text);
      row.m = strata::checkpoint::manifest::parse(text, from->st.commit_location(v));
    } catch (std::exception const& e) {
      row.own.push_back({"its manifest is damaged", e.what()});
      continue;
    }
    auto const& m = *row.m;
    if (m.parent)
      if (auto p = manifest_hash.find(m.parent->version); p != manifest_hash.end() && p->second != m.parent->manifest_xxh3)
        row.own.push_back({"its hash chain is broken", "parent manifest " + std::to_string(m.parent->version) +
                                                           " does not match the recorded hash"});
    for (auto const& s : m.shards) {
      // Read from the first level that has the file (as storage::multilevel reads), verify the others too.
      level const* first = nullptr;
      std::optional<problem> bad;
      std::string intact_elsewhere;
      for (auto const& l : levels) {
        if (!fs::exists(l.st.shard_location(v, static_cast<int>(s.rank)))) continue;
        auto const p = check_shard(l, v, s);
        if (!first) {
          first = &l;
          bad = p;
        } else if (p) {
          row.notes.push_back(p->detail + " (not read: the " + first->name + " copy comes first)");
        } else if (bad && intact_elsewhere.empty()) {
          intact_elsewhere = l.st.shard_location(v, static_cast<int>(s.rank));
        }
      }
      if (!first) bad = check_shard(*from, v, s);  // no level has it: its "missing" error
      if (bad) {
        if (!intact_elsewhere.empty())
          bad->detail += " (an intact copy is " + intact_elsewhere + "; move the damaged one aside to use it)";
        row.own.push_back(*bad);
      }
    }
  }

  // Then by its chain: every version it depends on must be committed, of the same rank count, and usable.
  std::map<std::uint64_t, bool> usable_memo;
  std::function<bool(std::uint64_t)> usable = [&](std::uint64_t v) -> bool {
    if (auto it = usable_memo.find(v); it != usable_memo.end()) return it->second;
    usable_memo[v] = false;  // a cycle (impossible: dependencies are older) counts as broken
    auto& row = rows.at(v);
    if (row.own.empty() && row.m) {
      for (auto d : row.m->depends_on) {
        auto const vd = "depends on version " + std::to_string(d);
        auto const it = rows.find(d);
        if (it == rows.end()) {
          row.chain = vd + ", whose commit record is missing" + std::string(several ? " on every level" : "");
        } else if (!it->second.own.empty()) {
          auto const& p = it->second.own.front();  // "its manifest is damaged" -> "whose manifest is damaged"
          row.chain = vd + ", whose " + p.brief.substr(p.brief.starts_with("its ") ? 4 : 0) + " (" + p.detail + ")";
        } else if (it->second.m && it->second.m->ranks != row.m->ranks) {
          row.chain = vd + ", which was written by " + std::to_string(it->second.m->ranks) + " ranks, this one by " +
                      std::to_string(row.m->ranks);
        } else if (!usable(d)) {
          row.chain = vd + ", which is unusable itself: " + *it->second.chain;
        }
        if (row.chain) break;
      }
    }
    return usable_memo[v] = row.own.empty() && !row.chain;
  };
  int damaged = 0, unusable = 0;
  std::optional<std::uint64_t> newest_usable;
  for (auto v : committed) {
    if (usable(v)) newest_usable = v;
    else if (rows[v].own.empty()) ++unusable;
    else ++damaged;
  }

  // Entries that are not versions: leave out the lock and the other levels' folders (DIR/fast).
  std::vector<std::pair<std::string, std::vector<std::uint64_t>>> uncommitted;  // level, versions
  std::vector<std::string> foreign;
  for (auto const& l : levels) {
    std::vector<std::uint64_t> u;
    for (auto v : l.listing.all)
      if (!std::binary_search(committed.begin(), committed.end(), v)) u.push_back(v);
    uncommitted.emplace_back(l.name, std::move(u));
    for (auto const& f : l.listing.foreign) {
      auto const name = fs::path(f).filename().string();
      if (name.rfind(strata::detail::dir_lock::file_name, 0) == 0) continue;
      bool const is_level = std::ranges::any_of(levels, [&](level const& o) {
        std::error_code ec;
        return fs::equivalent(o.dir, f, ec);
      });
      if (!is_level) foreign.push_back(f);
    }
  }
  std::vector<std::pair<std::string, std::string>> locks;  // level, description
  for (auto const& l : levels)
    if (auto d = strata::detail::dir_lock::describe(l.dir)) locks.emplace_back(l.name, *d);

  auto status_of = [&](version_row const& r) {
    return !r.own.empty() ? "DAMAGED" : r.chain ? "UNUSABLE" : "ok";
  };
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (auto v : committed) {
      auto const& r = rows[v];
      nlohmann::json row{{"version", v}, {"status", status_of(r)}, {"levels", r.levels}};
      if (r.m) {
        row["created"] = r.m->created_iso();
        row["step"] = r.m->step;
        row["ranks"] = r.m->ranks;
        row["snapshot"] = r.m->snapshot;
        std::uint64_t bytes = 0;
        for (auto const& s : r.m->shards) bytes += s.bytes;
        row["bytes"] = bytes;
        if (r.m->parent) row["parent"] = r.m->parent->version;
        row["depends_on"] = r.m->depends_on;
      }
      std::vector<std::string> problems;
      for (auto const& p : r.own) problems.push_back(p.detail);
      if (r.chain) problems.push_back("unusable: " + *r.chain);
      row["problems"] = problems;
      row["notes"] = r.notes;
      out.push_back(row);
    }
    nlohmann::json dirs_json = nlohmann::json::array(), unc = nlohmann::json::array(), lock_json = nlohmann::json::object();
    for (std::size_t i = 0; i < levels.size(); ++i) dirs_json.push_back({{"level", levels[i].name}, {"directory", dirs[i]}});
    for (auto const& [name, u] : uncommitted)
      for (auto v : u) unc.push_back(several ? nlohmann::json{{"version", v}, {"level", name}} : nlohmann::json(v));
    for (auto const& [name, d] : locks) lock_json[name] = d;
    std::cout << nlohmann::json{{"directory", dirs.front()},
                                {"levels", dirs_json},
                                {"versions", out},
                                {"newest_usable", newest_usable ? nlohmann::json(*newest_usable) : nlohmann::json()},
                                {"uncommitted", unc},
                                {"foreign", foreign},
                                {"locks", lock_json}}
                     .dump(2)
              << '\n';
  } else {
    std::printf("%-8s %-8s %-21s %-10s %-6s %-12s %-14s %s\n", "version", "status", "created (UTC)", "step", "ranks",
                "snapshot", "bytes", several ? "parent  levels" : "parent");
    for (auto v : committed) {
      auto const& r = rows[v];
      std::string created = "?", step = "?", ranks = "?", snapshot = "?", bytes = "?", parent = "-";
      if (r.m) {
        created = r.m->created_iso();
        step = std::to_string(r.m->step);
        ranks = std::to_string(r.m->ranks);
        snapshot = r.m->snapshot;
        std::uint64_t b = 0;
        for (auto const& s : r.m->shards) b += s.bytes;
        bytes = std::to_string(b);
        if (r.m->parent) parent = std::to_string(r.m->parent->version);
      }
      std::string where;
      for (auto const& n : r.levels) where += (where.empty() ? "" : ",") + n;
      if (several) parent = (parent + std::string(7, ' ')).substr(0, std::max<std::size_t>(7, parent.size())) + " " + where;
      std::printf("%-8llu %-8s %-21s %-10s %-6s %-12s %-14s %s\n", static_cast<unsigned long long>(v), status_of(r),
                  created.c_str(), step.c_str(), ranks.c_str(), snapshot.c_str(), bytes.c_str(), parent.c_str());
      if (r.m && !r.m->depends_on.empty()) {
        std::string chain;
        for (auto d : r.m->depends_on) chain += (chain.empty() ? "" : ", ") + std::to_string(d);
        std::printf("         depends on %s\n", chain.c_str());
      }
      for (auto const& p : r.own) std::printf("         ! %s\n", p.detail.c_str());
      if (r.chain) std::printf("         ! version %llu: unusable, %s\n", static_cast<unsigned long long>(v), r.chain->c_str());
      for (auto const& n : r.notes) std::printf("         note: %s\n", n.c_str());
    }
    for (auto const& [name, u] : uncommitted)
      for (auto v : u)
        std::printf("%-8llu uncommitted%s%s (no commit record: an aborted or interrupted attempt)\n",
                    static_cast<unsigned long long>(v), several ? " in " : "", several ? name.c_str() : "");
    for (auto const& f : foreign)
      std::printf("foreign entry: %s%s\n", f.c_str(),
                  fs::path(f).filename() == "fast" && fs::is_directory(f)
                      ? " (storage::multilevel's fast level? inspect both: strata_inspect DIR/fast DIR)"
                      : "");
    for (auto const& [name, d] : locks) std::printf("lock%s%s: %s\n", several ? " of " : "", several ? name.c_str() : "", d.c_str());
    std::printf("%zu committed version(s), %d damaged, %d unusable; ", committed.size(), damaged, unusable);
    if (newest_usable) std::printf("newest usable: version %llu\n", static_cast<unsigned long long>(*newest_usable));
    else std::printf("no usable version\n");
  }
  return damaged + unusable ? 1 : 0;
}
