#pragma once
/// \file
/// \brief `consistency::any`: the protocol chosen at run time (`configured_checkpointer`,
/// `consistency.kind = "coordinated" | "eventual"`).

#include <strata/consistency/coordinated.hpp>
#include <strata/consistency/eventual.hpp>

#include <string_view>

namespace strata::consistency {

/// \brief `coordinated` or `eventual`, chosen at run time (both take the same `choose`; which commit
/// path the checkpointer takes is `is_eventual()`).
struct any {
  static constexpr std::string_view name = "any";
  enum class kind { coordinated, eventual };
  kind held = kind::coordinated;

  any() = default;
  any(coordinated) noexcept {}                             // NOLINT: implicit, as the policy it holds
  any(eventual) noexcept : held(kind::eventual) {}         // NOLINT
  [[nodiscard]] constexpr bool is_eventual() const noexcept { return held == kind::eventual; }
  /// \brief The name manifests record: the held protocol's.
  [[nodiscard]] constexpr std::string_view runtime_name() const noexcept {
    return is_eventual() ? eventual::name : coordinated::name;
  }

  template <comm::communicator Comm, class Storage, class MakeRecord>
  void commit(Comm const& comm, Storage& storage, std::uint64_t v, snapshot::encoded_shard const& shard, bool verify,
              MakeRecord const& make_record) const {
    coordinated{}.commit(comm, storage, v, shard, verify, make_record);
  }
  template <comm::communicator Comm, class Local, class Warn>
  std::optional<std::uint64_t> choose(Comm const& comm, std::vector<std::uint64_t> const& committed_ascending,
                                      Local&& local, Warn&& warn) const {
    return coordinated{}.choose(comm, committed_ascending, static_cast<Local&&>(local), static_cast<Warn&&>(warn));
  }
  friend constexpr bool operator==(any const&, any const&) = default;
};

static_assert(protocol<any>);

}  // namespace strata::consistency
