// strata_inspect: lists the versions in a posix_dir checkpoint directory and
// verifies each one (manifest checksum, hash chain, every shard's size and
// checksum) without MPI. Exit status 0 when every committed version verifies,
// 1 when something is damaged, 2 on bad usage.
//
//   strata_inspect DIR [--json]
#include <strata/checkpoint/manifest.hpp>
#include <strata/comm/solo.hpp>
#include <strata/detail/hash.hpp>
#include <strata/storage/posix_dir.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <map>

int main(int argc, char** argv) {
  CLI::App app{"strata_inspect: list and verify the versions of a strata checkpoint directory"};
  std::string dir;
  bool json = false;
  app.add_option("dir", dir, "checkpoint directory")->required();
  app.add_flag("--json", json, "machine-readable output");
  CLI11_PARSE(app, argc, argv);
  if (!std::filesystem::is_directory(dir)) {
    std::fprintf(stderr, "strata_inspect: %s is not a directory\n", dir.c_str());
    return 2;
  }
  strata::storage::posix_dir st;
  st.attach(strata::comm::solo{}, dir);
  auto const listing = st.list();
  std::map<std::uint64_t, std::uint64_t> manifest_hash;
  nlohmann::json out = nlohmann::json::array();
  int damaged = 0;
  for (auto v : listing.committed) {
    nlohmann::json row{{"version", v}};
    std::vector<std::string> problems;
    try {
      auto const text = st.read_commit(v).value();
      manifest_hash[v] = strata::detail::xxh3(text);
      auto const m = strata::checkpoint::manifest::parse(text, st.commit_location(v));
      row["created"] = m.created_iso();
      row["step"] = m.step;
      row["ranks"] = m.ranks;
      row["snapshot"] = m.snapshot;
      std::uint64_t bytes = 0;
      if (m.parent) {
        row["parent"] = m.parent->version;
        if (auto p = manifest_hash.find(m.parent->version); p != manifest_hash.end() && p->second != m.parent->manifest_xxh3)
          problems.push_back("parent manifest " + std::to_string(m.parent->version) + " does not match the recorded hash");
      }
      for (auto const& s : m.shards) {
        bytes += s.bytes;
        try {
          auto const b = st.read_shard(v, static_cast<int>(s.rank));
          if (b.size() != s.bytes)
            problems.push_back(st.shard_location(v, static_cast<int>(s.rank)) + ": " + std::to_string(b.size()) +
                               " bytes, manifest says " + std::to_string(s.bytes));
          else if (strata::detail::xxh3(b.span()) != s.xxh3)
            problems.push_back(st.shard_location(v, static_cast<int>(s.rank)) + ": checksum mismatch");
        } catch (std::exception const& e) {
          problems.push_back(e.what());
        }
      }
      row["bytes"] = bytes;
    } catch (std::exception const& e) {
      problems.push_back(e.what());
    }
    row["status"] = problems.empty() ? "ok" : "DAMAGED";
    row["problems"] = problems;
    damaged += problems.empty() ? 0 : 1;
    out.push_back(row);
  }
  std::vector<std::uint64_t> uncommitted;
  for (auto v : listing.all)
    if (!std::binary_search(listing.committed.begin(), listing.committed.end(), v)) uncommitted.push_back(v);
  if (json) {
    std::cout << nlohmann::json{{"directory", dir}, {"versions", out}, {"uncommitted", uncommitted}, {"foreign", listing.foreign}}.dump(2) << '\n';
  } else {
    std::printf("%-8s %-8s %-21s %-10s %-6s %-12s %-14s %s\n", "version", "status", "created (UTC)", "step", "ranks",
                "snapshot", "bytes", "parent");
    for (auto const& r : out) {
      std::printf("%-8llu %-8s %-21s %-10s %-6s %-12s %-14s %s\n", r["version"].get<unsigned long long>(),
                  r["status"].get<std::string>().c_str(), r.value("created", std::string("?")).c_str(),
                  r.contains("step") ? std::to_string(r["step"].get<std::uint64_t>()).c_str() : "?",
                  r.contains("ranks") ? std::to_string(r["ranks"].get<unsigned>()).c_str() : "?",
                  r.value("snapshot", std::string("?")).c_str(),
                  r.contains("bytes") ? std::to_string(r["bytes"].get<std::uint64_t>()).c_str() : "?",
                  r.contains("parent") ? std::to_string(r["parent"].get<std::uint64_t>()).c_str() : "-");
      for (auto const& p : r["problems"]) std::printf("         ! %s\n", p.get<std::string>().c_str());
    }
    for (auto v : uncommitted) std::printf("%-8llu uncommitted (no commit record: an aborted or interrupted attempt)\n", static_cast<unsigned long long>(v));
    for (auto const& f : listing.foreign) std::printf("foreign entry: %s\n", f.c_str());
    std::printf("%zu committed version(s), %d damaged\n", out.size(), damaged);
  }
  return damaged ? 1 : 0;
}
