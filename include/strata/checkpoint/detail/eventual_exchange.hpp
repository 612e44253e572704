#pragma once
/// \file
/// \brief How the eventual protocol (`consistency::eventual`, SPEC R4) moves its per-rank records to
/// rank 0 and its manifests to the nodes that keep a copy, with no collective on the checkpoint path.
/// Not a public header.
///
/// - Each rank writes its record of a version in its own `DIR/.strata.ranks` (durable: a restart finds
///   it there). When that folder is the one rank 0 reads (a shared directory), that is all; when it
///   is not (node-local storage), the record is also sent to rank 0 in a message, which rank 0 writes
///   into its own folder when it takes in what arrived.
/// - Rank 0 writes a version's manifest through the storage once every rank's record is there; a
///   storage that keeps a copy on other nodes (`alone::commit_replicas`) gets it in a message there.
/// - Nothing waits for a rank: messages are taken in at each step and checkpoint (`pump`), and all of
///   them at the collective points (`drain`: `wait()`, destruction, restore).

#include <strata/checkpoint/detail/rank_record.hpp>
#include <strata/comm/concepts.hpp>
#include <strata/comm/mailbox.hpp>
#include <strata/comm/mpi.hpp>
#include <strata/storage/alone.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace strata::checkpoint::detail {

template <class Comm>
class eventual_exchange {
 public:
  using records = std::map<std::uint64_t, std::map<std::uint32_t, rank_record>>;

  /// \brief Collective: finds whether every rank's record folder is rank 0's (a marker rank 0 writes,
  /// looked for by every rank); opens a mailbox when records or manifests must travel.
  /// \returns why this rank cannot take part (empty: it can); the caller agrees on it.
  std::string open(Comm const& comm, std::filesystem::path const& dir, bool manifests_travel) {
    dir_ = dir;
    rank_ = comm.rank();
    auto const folder = rank_records_dir(dir);
    std::string why;
    std::error_code ec;
    std::filesystem::create_directories(folder, ec);
    if (ec) why = "rank " + std::to_string(rank_) + ": cannot create " + folder.string() + ": " + ec.message();
    if constexpr (std::same_as<Comm, comm::mpi>) {
      if (comm.size() == 1) return why;
      // Every rank goes through the same collectives, whatever failed here.
      std::uint64_t token = 0;
      if (rank_ == 0) token = std::random_device{}() | (std::uint64_t{std::random_device{}()} << 32);
      comm.broadcast(std::as_writable_bytes(std::span(&token, 1)), 0);
      auto const marker = folder / (".shared." + std::to_string(token));
      if (rank_ == 0 && why.empty()) {
        try {
          strata::detail::write_file_durable(marker, std::as_bytes(std::span("0", 1)),
                                             strata::detail::io_context<checkpoint_error>{"rank 0", {}});
        } catch (std::exception const& e) {
          why = e.what();
        }
      }
      comm.barrier();
      shared_ = comm.all_reduce(std::uint64_t{std::filesystem::exists(marker, ec)}, comm::reduce_op::min) == 1;
      comm.barrier();
      if (rank_ == 0) std::filesystem::remove(marker, ec);
      if (!shared_ || manifests_travel) mail_ = std::make_unique<comm::mailbox>(comm);
    }
    return why;
  }

  /// \brief Whether every rank writes its records where rank 0 reads them.
  [[nodiscard]] bool shared() const noexcept { return shared_; }

  /// \brief This rank's record, durable in its own folder, then on its way to rank 0.
  void record(rank_record const& r) {
    write_rank_record(dir_, r);
    if (mail_ && !shared_ && rank_ != 0) send_record(r);
  }

  /// \brief Whether nothing can arrive: no messages travel and `storage` takes in no copies
  /// (`posix_dir`, a shared directory): `pump` would do nothing, and the step skips it.
  template <class Storage>
  [[nodiscard]] bool idle(Storage& storage) const noexcept {
    return !mail_ && !requires(storage::alone::sayer const& say) { storage.progress(say); };
  }

  /// \brief Takes in what arrived (records at rank 0, manifests where a copy is kept, the storage's
  /// own copies); never waits.
  /// \returns how many records rank 0 took in.
  template <class Storage>
  std::size_t pump(Storage& storage, storage::alone::sayer const& say) {
    std::lock_guard g{mu_};
    std::size_t records_in = 0;
    if (mail_) mail_->poll([&](comm::letter&& l) { records_in += take(storage, std::move(l), say); });
    storage::alone::progress(storage, say);
    return records_in;
  }

  /// \brief Collective: every record and manifest posted before it delivered, the storage's copies
  /// written. With `resend_own` (at a restore), each rank first sends rank 0 again every record of its
  /// own it holds: rank 0's folder may be new (its node lost and replaced).
  template <class Storage>
  void drain(Storage& storage, storage::alone::sayer const& say, bool resend_own) {
    std::lock_guard g{mu_};
    if (mail_ && !shared_ && resend_own && rank_ != 0)
      for (auto const& [v, by_rank] : read_rank_records(dir_))
        if (auto it = by_rank.find(static_cast<std::uint32_t>(rank_)); it != by_rank.end()) send_record(it->second);
    if (mail_) mail_->drain([&](comm::letter&& l) { take(storage, std::move(l), say); });
    storage::alone::drain(storage, say);
  }

  /// \brief Rank 0: sends version `v`'s manifest to the ranks that keep a copy of it.
  template <class Storage>
  void publish(Storage const& storage, std::uint64_t v, std::string const& text) {
    if (!mail_) return;
    std::vector<std::byte> msg(sizeof v + text.size());
    std::memcpy(msg.data(), &v, sizeof v);
    std::memcpy(msg.data() + sizeof v, text.data(), text.size());
    for (int r : storage::alone::commit_replicas(storage)) mail_->post(r, manifest_tag, msg);
  }

  /// \brief Rank 0: every record it holds of versions above `above` (version → rank → record).
  [[nodiscard]] records read(std::uint64_t above, std::vector<std::string>* bad) const {
    return read_rank_records(dir_, bad, above);
  }

  /// \brief Removes this rank's record of `v`; rank 0, when it holds the others' too, theirs.
  void forget(std::uint64_t v, std::uint32_t ranks) const {
    remove_rank_record(dir_, v, static_cast<std::uint32_t>(rank_));
    if (rank_ == 0 && !shared_)
      for (std::uint32_t r = 1; r < ranks; ++r) remove_rank_record(dir_, v, r);
  }

 private:
  static constexpr int record_tag = 1, manifest_tag = 2;

  void send_record(rank_record const& r) {
    auto const text = r.to_text();
    std::vector<std::byte> msg(text.size());
    std::memcpy(msg.data(), text.data(), text.size());
    mail_->post(0, record_tag, std::move(msg));
  }

  /// One message: a record (rank 0; returns 1 when it is new) or a manifest.
  template <class Storage>
  std::size_t take(Storage& storage, comm::letter&& l, storage::alone::sayer const& say) {
    if (l.tag == record_tag && rank_ == 0) {
      auto const rec = rank_record::parse(std::string(reinterpret_cast<char const*>(l.bytes.data()), l.bytes.size()));
      if (!rec || rec->rank != static_cast<std::uint32_t>(l.from)) {
        if (say) say("rank 0: ignoring a damaged per-rank record sent by rank " + std::to_string(l.from), true);
        return 0;
      }
      std::error_code ec;
      if (std::filesystem::exists(rank_record_path(dir_, rec->version, rec->rank), ec)) return 0;
      try {
        write_rank_record(dir_, *rec);
        return 1;
      } catch (std::exception const& e) {
        if (say) say("rank 0: the record of rank " + std::to_string(l.from) + " for version " + std::to_string(rec->version) +
                     " could not be written (the version becomes usable at the next restore): " + e.what(), true);
      }
    } else if (l.tag == manifest_tag && l.bytes.size() >= sizeof(std::uint64_t)) {
      std::uint64_t v = 0;
      std::memcpy(&v, l.bytes.data(), sizeof v);
      std::string_view const text(reinterpret_cast<char const*>(l.bytes.data()) + sizeof v, l.bytes.size() - sizeof v);
      if constexpr (requires { storage.replicate_commit(v, text); }) {
        try {
          storage.replicate_commit(v, text);
        } catch (std::exception const& e) {
          if (say) say("rank " + std::to_string(rank_) + ": the manifest of version " + std::to_string(v) +
                       " could not be copied here (restore copies it again): " + e.what(), true);
        }
      }
    }
    return 0;
  }

  std::filesystem::path dir_;
  int rank_ = 0;
  bool shared_ = true;
  std::mutex mu_;
  std::unique_ptr<comm::mailbox> mail_;
};

}  // namespace strata::checkpoint::detail
