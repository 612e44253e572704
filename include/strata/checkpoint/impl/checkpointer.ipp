#pragma once
/// \file
/// \brief Definitions of `strata::checkpointer`'s members: each hands the call to its
/// `checkpointer_core`. Included by checkpoint/checkpointer.hpp (header-only builds), by
/// checkpoint/definitions.hpp, and by strata/src.hpp (STRATA_SEPARATE_COMPILATION).

#include <strata/checkpoint/checkpointer.hpp>
#include <strata/checkpoint/detail/checkpointer_core.hpp>

namespace strata::checkpoint::detail {
/// The definitions are visible here (see checkpoint/checkpointer.hpp).
template <class T>
constexpr bool definitions_visible(definitions_tag<T>, int) {
  return true;
}
}  // namespace strata::checkpoint::detail

#define STRATA_CKPT_TEMPLATE                                                                                 \
  template <strata::comm::communicator Comm, strata::snapshot::strategy Snapshot, class Storage,             \
            strata::consistency::protocol Consistency, strata::trigger::policy Trigger,                      \
            strata::retention::policy Retention>
#define STRATA_CKPT strata::checkpointer<Comm, Snapshot, Storage, Consistency, Trigger, Retention>

STRATA_CKPT_TEMPLATE
STRATA_CKPT::checkpointer(Comm comm, options opt) : core_(std::make_unique<core_type>(std::move(comm), std::move(opt))) {}
STRATA_CKPT_TEMPLATE
STRATA_CKPT::~checkpointer() = default;
STRATA_CKPT_TEMPLATE
void STRATA_CKPT::protect_region(std::string name, std::unique_ptr<state::region> r, bool range, state::layout how) {
  core_->protect_region(std::move(name), std::move(r), range, how);
}
STRATA_CKPT_TEMPLATE
bool STRATA_CKPT::unprotect(std::string const& name) { return core_->unprotect(name); }
STRATA_CKPT_TEMPLATE
void STRATA_CKPT::redistribute(std::string const& name, distributed block) { core_->redistribute(name, block); }
STRATA_CKPT_TEMPLATE
bool STRATA_CKPT::step(std::uint64_t i) { return core_->step(i); }
STRATA_CKPT_TEMPLATE
bool STRATA_CKPT::stop_requested() const noexcept { return core_->stop_requested(); }
STRATA_CKPT_TEMPLATE
std::optional<strata::preemption::event> const& STRATA_CKPT::preempted() const noexcept { return core_->preempted(); }
STRATA_CKPT_TEMPLATE
std::uint64_t STRATA_CKPT::checkpoint() { return core_->checkpoint(); }
STRATA_CKPT_TEMPLATE
std::optional<std::uint64_t> STRATA_CKPT::restore_latest() { return core_->restore_latest(); }
STRATA_CKPT_TEMPLATE
std::optional<std::uint64_t> STRATA_CKPT::restore_latest(checkpoint::log_replayer replay) {
  return core_->restore_latest(replay);
}
STRATA_CKPT_TEMPLATE
std::uint64_t STRATA_CKPT::append_log(std::span<const std::byte> entry) { return core_->append_log(entry); }
STRATA_CKPT_TEMPLATE
strata::checkpoint::state_agreement STRATA_CKPT::compare_state(std::uint64_t digest, std::string const& what) {
  return core_->compare_state(digest, what);
}
STRATA_CKPT_TEMPLATE
std::uint64_t STRATA_CKPT::restore(std::uint64_t version) { return core_->restore(version); }
STRATA_CKPT_TEMPLATE
void STRATA_CKPT::wait() { core_->wait(); }
STRATA_CKPT_TEMPLATE
strata::metrics::registry& STRATA_CKPT::metrics() noexcept { return core_->metrics(); }
STRATA_CKPT_TEMPLATE
void STRATA_CKPT::write_metrics() { core_->write_metrics(); }
STRATA_CKPT_TEMPLATE
std::vector<std::uint64_t> STRATA_CKPT::versions() const { return core_->versions(); }
STRATA_CKPT_TEMPLATE
std::optional<std::uint64_t> STRATA_CKPT::current_version() const { return core_->current_version(); }
STRATA_CKPT_TEMPLATE
strata::checkpoint_stats STRATA_CKPT::last_stats() const { return core_->last_stats(); }
STRATA_CKPT_TEMPLATE
bool STRATA_CKPT::asynchronous() const noexcept { return core_->asynchronous(); }
STRATA_CKPT_TEMPLATE
std::uint64_t STRATA_CKPT::last_step() const noexcept { return core_->last_step(); }
STRATA_CKPT_TEMPLATE
Comm const& STRATA_CKPT::communicator() const noexcept { return core_->communicator(); }
STRATA_CKPT_TEMPLATE
auto STRATA_CKPT::settings() const noexcept -> options const& { return core_->settings(); }
STRATA_CKPT_TEMPLATE
Storage& STRATA_CKPT::storage() noexcept { return core_->storage(); }
STRATA_CKPT_TEMPLATE
Snapshot& STRATA_CKPT::snapshot_policy() noexcept { return core_->snapshot_policy(); }
STRATA_CKPT_TEMPLATE
Trigger& STRATA_CKPT::trigger_policy() noexcept { return core_->trigger_policy(); }

#undef STRATA_CKPT
#undef STRATA_CKPT_TEMPLATE
