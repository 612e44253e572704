#pragma once
/// \file
/// \brief Definitions of `storage::posix_dir` that need <algorithm>: included by
/// storage/posix_dir.hpp (header-only builds), else compiled once in strata/src.hpp.

#include <strata/storage/posix_dir.hpp>

#include <algorithm>

namespace strata::storage {

STRATA_INLINE listing posix_dir::list() const {
  listing out;
  std::error_code ec;
  for (auto const& e : std::filesystem::directory_iterator(dir_, ec)) {
    auto const n = e.path().filename().string();
    if (auto v = detail::parse_version(n, ".manifest.json")) {
      out.committed.push_back(*v);
      out.all.push_back(*v);
    } else if (auto d = detail::parse_version(n, ""); d && e.is_directory()) {
      out.all.push_back(*d);
    } else if (auto t = detail::parse_version(n, ".manifest.json.tmp")) {
      out.all.push_back(*t);  // a commit that crashed before its rename: a trace of that version
    } else if (n.rfind(".probe.", 0) != 0 && n.rfind(".strata.lock", 0) != 0 && n != ".strata.log" && n != ".strata.ranks" && !n.ends_with(".tmp")) {
      out.foreign.push_back((dir_ / n).string());
    }
  }
  std::ranges::sort(out.committed);
  std::ranges::sort(out.all);
  out.all.erase(std::unique(out.all.begin(), out.all.end()), out.all.end());
  return out;
}

}  // namespace strata::storage
