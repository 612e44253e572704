#pragma once
/// \file
/// \brief Acting on a scaling decision (SPEC S8): checkpoint, write a relaunch request, exit with
/// `relaunch_exit_status`; the launcher relaunches with the requested rank count and the job
/// resumes from the checkpoint (N -> M restore).
///
/// The protocol, for job scripts:
/// - exit status `relaunch_exit_status` (75, EX_TEMPFAIL) means "relaunch me with another rank count";
/// - the request is a JSON file `{"action": "scale_up", "from_ranks": 4, "to_ranks": 8, "reason": "..."}`
///   written atomically (temporary name, then rename) by rank 0;
/// - any other status keeps its usual meaning (0 done, anything else failed).

#include <strata/elastic/policy.hpp>
#include <strata/error.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace strata::elastic {

/// \brief Exit status of a job that checkpointed and asks to be relaunched with another rank count.
inline constexpr int relaunch_exit_status = 75;

/// \brief A relaunch request as read back by a launcher.
struct relaunch_request {
  scale_action action = scale_action::none;
  int from_ranks = 0;
  int to_ranks = 0;
  std::string reason;
  friend bool operator==(relaunch_request const&, relaunch_request const&) = default;
};

/// \brief Writes the request for `decision` taken at `from_ranks` ranks to `path`, atomically.
inline void write_relaunch_request(std::filesystem::path const& path, scale_decision const& decision, int from_ranks) {
  if (decision.action == scale_action::none)
    throw usage_error("elastic::write_relaunch_request: the decision is 'none'; there is nothing to relaunch");
  nlohmann::json j{{"action", to_string(decision.action)},
                   {"from_ranks", from_ranks},
                   {"to_ranks", decision.target_ranks},
                   {"reason", decision.reason}};
  auto const tmp = std::filesystem::path(path.string() + ".tmp");
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(2) << '\n';
    out.flush();
    if (!out) throw error("elastic::write_relaunch_request: cannot write '" + tmp.string() + "'");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw error("elastic::write_relaunch_request: cannot rename '" + tmp.string() + "' to '" + path.string() + "': " + ec.message());
}

/// \brief Reads a request written by `write_relaunch_request`; errors name the file.
[[nodiscard]] inline relaunch_request read_relaunch_request(std::filesystem::path const& path) {
  std::ifstream in(path);
  if (!in) throw error("elastic::read_relaunch_request: cannot open '" + path.string() + "'");
  try {
    auto const j = nlohmann::json::parse(in);
    relaunch_request r;
    auto const a = j.at("action").get<std::string>();
    r.action = a == "scale_up" ? scale_action::scale_up : a == "scale_down" ? scale_action::scale_down : scale_action::none;
    if (r.action == scale_action::none) throw error("unknown action '" + a + "'");
    r.from_ranks = j.at("from_ranks").get<int>();
    r.to_ranks = j.at("to_ranks").get<int>();
    r.reason = j.value("reason", "");
    return r;
  } catch (nlohmann::json::exception const& e) {
    throw error("elastic::read_relaunch_request: '" + path.string() + "' is not a relaunch request: " + e.what());
  } catch (error const& e) {
    throw error("elastic::read_relaunch_request: '" + path.string() + "': " + e.what());
  }
}

}  // namespace strata::elastic
