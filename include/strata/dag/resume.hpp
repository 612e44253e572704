#pragma once
/// \file
/// \brief Resumable task flows (SPEC S9): `dag::resume_with(ckpt, {.every_tasks = K})` runs a
/// `task_flow` in segments of K tasks of program order and hands the state at each cut to a strata
/// checkpointer; a flow killed mid-run and run again restores the newest saved cut and skips the tasks
/// before it. Also `resume_error` (the saved state does not match the flow) and the saved signature.

#include <strata/error.hpp>
#include <strata/state/layout.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace strata::dag {

/// \brief One cut of a resumable run, as passed to `resume_options::on_cut` on every rank.
struct cut_event {
  std::size_t tasks_done = 0;  ///< tasks of program order before the cut (all finished)
  std::size_t tasks = 0;       ///< tasks of the flow
  bool saved = false;          ///< the checkpointer's trigger fired and the version is committed (async: queued)
};

/// \brief Where a resumable run cuts the program order.
struct resume_options {
  /// A cut every this many tasks of program order (at least 1). At each cut the checkpointer's
  /// `step(tasks_done)` is called: its trigger decides whether the cut is saved (`every_n{.n = K}`
  /// saves every cut, `every_n{.n = 4 * K}` every fourth, `every_seconds` by the clock).
  std::size_t every_tasks = 64;
  /// Called on every rank after each cut (progress lines, tests); may be empty.
  std::function<void(cut_event const&)> on_cut = {};
};

/// \brief What a resumable run needs of a checkpointer (every `strata::checkpointer<...>` models it).
template <class C>
concept flow_checkpointer = requires(C& c, std::string name, std::vector<std::byte>& bytes, std::string& text,
                                     std::uint64_t u) {
  c.protect(name, bytes, state::layout{});
  c.protect(name, text, state::layout{});
  c.unprotect(name);
  { c.restore_latest() } -> std::same_as<std::optional<std::uint64_t>>;
  { c.step(u) } -> std::convertible_to<bool>;
  { c.settings().directory } -> std::convertible_to<std::filesystem::path>;
};

/// \brief A checkpointer and the cuts: pass it to `task_flow::run(world, resume_with(ckpt, {...}))`.
///
/// \code
/// strata::checkpointer<> ckpt{world, {.directory = "flow_ckpt", .trigger = {.n = 32}}};
/// strata::dag::task_flow<> flow{{.workers = 2}};
/// /* register_data, submit ... (the same flow in every run) */
/// auto res = flow.run(world, strata::dag::resume_with(ckpt, {.every_tasks = 32}));
/// if (res.resumed_from > 0) std::printf("resumed from task cut %zu\n", res.resumed_from);
/// \endcode
template <class C>
struct resume_with {
  static_assert(flow_checkpointer<C>,
                "dag::resume_with<C>: C must be a strata::checkpointer (protect, unprotect, restore_latest, "
                "step, settings().directory)");
  C& checkpointer;
  resume_options options;
  resume_with(C& c, resume_options o = {}) : checkpointer(c), options(std::move(o)) {}
};

/// \brief The checkpoint a resumable run restored does not match the flow: another number of tasks or
/// ranks, other handles (names, sizes, homes). Thrown on every rank before any buffer is touched.
class resume_error : public restore_error {
 public:
  resume_error(std::filesystem::path directory, std::optional<std::uint64_t> version, std::string difference)
      : restore_error("dag::task_flow: cannot resume from '" + directory.string() + "'" +
                      (version ? " version " + std::to_string(*version) : std::string()) + ": " + difference +
                      " (run the same flow on the same ranks, or use an empty directory)"),
        directory_(std::move(directory)),
        version_(version),
        difference_(std::move(difference)) {}
  /// \brief The checkpointer's directory.
  [[nodiscard]] std::filesystem::path const& directory() const noexcept { return directory_; }
  /// \brief The version restored (none when the checkpointer refused it).
  [[nodiscard]] std::optional<std::uint64_t> version() const noexcept { return version_; }
  /// \brief What differs, in words.
  [[nodiscard]] std::string const& difference() const noexcept { return difference_; }

 private:
  std::filesystem::path directory_;
  std::optional<std::uint64_t> version_;
  std::string difference_;
};

namespace detail {

/// The fixed part of a saved cut (protected replicated).
struct flow_cut_header {
  std::uint64_t tasks = 0;    // of the flow
  std::uint64_t ranks = 0;    // of the run that saved it
  std::uint64_t handles = 0;  // registered
  std::uint64_t cut = 0;      // tasks of program order before the cut
  friend bool operator==(flow_cut_header const&, flow_cut_header const&) = default;
};

/// One line per registered handle: "name bytes home".
inline std::string handle_line(std::string const& name, std::size_t bytes, int home) {
  return name + ' ' + std::to_string(bytes) + ' ' + std::to_string(home) + '\n';
}

/// What differs between the saved cut and this flow, in words ("" when they match). Pure: unit-tested.
inline std::string flow_mismatch(flow_cut_header const& saved, std::string const& saved_handles, flow_cut_header const& now,
                                 std::string const& now_handles) {
  auto const n = [](std::uint64_t v) { return std::to_string(v); };
  if (saved.tasks != now.tasks) return "the checkpoint holds a flow of " + n(saved.tasks) + " tasks, this flow has " + n(now.tasks);
  if (saved.ranks != now.ranks) return "the checkpoint was written by " + n(saved.ranks) + " ranks, this run has " + n(now.ranks);
  if (saved.handles != now.handles)
    return "the checkpoint holds " + n(saved.handles) + " handles, this flow registered " + n(now.handles);
  if (saved.cut > saved.tasks) return "the saved cut " + n(saved.cut) + " is past the flow's " + n(saved.tasks) + " tasks";
  std::size_t a = 0, b = 0;
  for (std::uint64_t k = 0; a < saved_handles.size() || b < now_handles.size(); ++k) {
    auto const ea = saved_handles.find('\n', a), eb = now_handles.find('\n', b);
    auto const la = saved_handles.substr(a, ea - a), lb = now_handles.substr(b, eb - b);
    if (la != lb)
      return "handle #" + n(k) + " was '" + la + "' (name bytes home), this flow's is '" + lb + "'";
    if (ea == std::string::npos || eb == std::string::npos) break;
    a = ea + 1, b = eb + 1;
  }
  return {};
}

}  // namespace detail
}  // namespace strata::dag
