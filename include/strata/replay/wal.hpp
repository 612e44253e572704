#pragma once
/// \file
/// \brief `replay::wal`: a write-ahead log of `{term, index, data}` records (SPEC R9).
///
/// File layout: a 32-byte header (magic `STRATWAL`, base index, reserved,
/// checksum), then records `[u32 magic][u32 length][u64 term][u64 index]
/// [u64 xxh3 of term, index, length and data][data]`. Indices are consecutive
/// from `base + 1`. On open the log is scanned; the first record that is
/// incomplete, fails its checksum, has an absurd length or breaks the index
/// sequence ends the log: it and everything after it are cut off, with one log
/// line saying how many bytes and why. Replay applies records in order from
/// an index the caller keeps, so it is idempotent even when interrupted and redone.

#include <strata/checkpoint/log.hpp>
#include <strata/replay/fsync_policy.hpp>
#include <strata/detail/posix_io.hpp>
#include <strata/error.hpp>

#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace strata::replay {


/// \brief Options of a write-ahead log.
struct wal_options {
  fsync_policy fsync = fsync_policy::every_record;    ///< durability of each append
  std::size_t fsync_every = 64;                        ///< for `fsync_policy::every_n`
  std::size_t max_record_bytes = std::size_t{1} << 26; ///< larger appends are refused; larger lengths on disk are corruption
  std::function<void(std::string_view)> log;           ///< where notices go (default: stderr)
  /// A record whose checksum holds but whose index is not the next one (a gap, or an index
  /// repeated: never a torn write) ends the log like damage (false), or makes opening throw
  /// `strata::error` naming the file and both indices (true: what the checkpointer's log does).
  bool refuse_sequence_break = false;
};

/// \brief One record of the log.
struct wal_entry {
  std::uint64_t term = 0;  ///< the writer's incarnation (grows on every restart)
  std::uint64_t index = 0; ///< position in the log, consecutive from base + 1
  std::vector<std::byte> data;
  friend bool operator==(wal_entry const&, wal_entry const&) = default;
};

/// \brief What opening the log found.
struct wal_open_report {
  std::size_t records = 0;              ///< valid records kept
  std::uint64_t truncated_bytes = 0;    ///< bytes cut off the tail (0 when the log was clean)
  std::string reason;                   ///< why the tail was cut (empty when clean)
  bool created = false;                 ///< the file did not exist (or had no valid header) and was created
};

/// \brief An append-only write-ahead log in one file.
///
/// \code
/// strata::replay::wal log{"state/wal"};
/// log.append(term, bytes);                         // durable when it returns (default fsync policy)
/// applied = log.replay(applied, [&](strata::replay::wal_entry const& e) { apply(e.data); });
/// log.reset(applied);                              // after a checkpoint: start an empty log
/// \endcode
class wal {
 public:
  static constexpr std::uint32_t record_magic = 0x4c525453u;  // "STRL"
  static constexpr std::size_t header_bytes = 32;
  static constexpr std::size_t record_header_bytes = 32;

  /// \brief Opens (or creates) the log at `file`, cutting off a torn or corrupt tail.
  explicit wal(std::filesystem::path file, wal_options options = {}) : path_(std::move(file)), opt_(std::move(options)) {
    if (!opt_.log) opt_.log = [](std::string_view m) { strata::detail::write_log_line(std::cerr, -1, m); };
    open_and_scan();
  }
  wal(wal const&) = delete;
  wal& operator=(wal const&) = delete;
  wal(wal&& o) noexcept { swap(o); }
  wal& operator=(wal&& o) noexcept {
    swap(o);
    return *this;
  }
  ~wal() { close_fd(); }

  /// \brief Appends one record with the next index and returns that index; durability per the fsync policy.
  std::uint64_t append(std::uint64_t term, std::span<const std::byte> data) {
    if (data.size() > opt_.max_record_bytes)
      throw usage_error("wal " + path_.string() + ": record of " + std::to_string(data.size()) +
                        " bytes exceeds max_record_bytes " + std::to_string(opt_.max_record_bytes));
    std::uint64_t const index = last_index_ + 1;
    buf_.resize(record_header_bytes + data.size());  // kept between appends: no allocation per record
    encode_record(buf_.data(), term, index, data);
    append_bytes(buf_);
    last_index_ = index;
    last_term_ = term;
    ++records_;
    bytes_ += buf_.size();
    ++unsynced_;
    if (opt_.fsync == fsync_policy::every_record ||
        (opt_.fsync == fsync_policy::every_n && unsynced_ >= opt_.fsync_every))
      sync();
    return index;
  }
  /// \brief Forces appended records to stable storage.
  void sync() {
    if (::fsync(fd_) != 0) throw_errno("fsync");
    unsynced_ = 0;
  }

  /// \brief Calls `apply(entry)` for every record with index > `after_index`, in order; returns the last index
  /// applied (or `after_index`). Keep the returned index with the applied state and pass it next time: an
  /// entry is then never applied twice, even when a replay is interrupted (an exception from `apply`) and redone.
  template <class F>
  std::uint64_t replay(std::uint64_t after_index, F&& apply) const {
    return replay_views(after_index, [&](std::uint64_t term, std::uint64_t index, std::span<const std::byte> data) {
      wal_entry const e{term, index, std::vector<std::byte>(data.begin(), data.end())};
      apply(e);
    });
  }
  /// \brief `replay` without a copy per record: `apply(term, index, data)`, `data` valid during the call.
  template <class F>
  std::uint64_t replay_views(std::uint64_t after_index, F&& apply) const {
    auto const bytes = read_file();
    std::size_t off = header_bytes;
    std::uint64_t applied = after_index;
    while (off + record_header_bytes <= bytes.size()) {
      wal_entry e;
      std::size_t const len = decode_header(bytes.data() + off, e);
      if (off + record_header_bytes + len > bytes.size()) break;  // only possible if the file changed under us
      if (e.index > applied) {
        apply(e.term, e.index, std::span<const std::byte>(bytes.data() + off + record_header_bytes, len));
        applied = e.index;
      }
      off += record_header_bytes + len;
    }
    return applied;
  }
  /// \brief All records, in order.
  [[nodiscard]] std::vector<wal_entry> entries() const {
    std::vector<wal_entry> out;
    replay(0, [&](wal_entry const& e) { out.push_back(e); });
    return out;
  }

  /// \brief Atomically replaces the log by an empty one whose next index is `base_index + 1`
  /// (after a checkpoint made the older records unnecessary). A crash leaves either log intact.
  void reset(std::uint64_t base_index) {
    std::byte header[header_bytes];
    encode_header(header, base_index);
    std::span<const std::byte> const piece{header};
    strata::detail::replace_file(path_, std::span(&piece, 1), report());
    sync_dir();
    close_fd();
    fd_ = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
    if (fd_ < 0) throw_errno("open");
    base_index_ = last_index_ = base_index;
    records_ = 0;
    bytes_ = header_bytes;
    unsynced_ = 0;
  }

  /// \brief Atomically drops the records with index <= `index` and keeps the later ones (after a
  /// checkpoint that includes those records); the header's base becomes `index`. A crash leaves
  /// either log intact. Nothing happens when `index` is not above the base.
  void truncate_through(std::uint64_t index) {
    if (index <= base_index_) return;
    if (index > last_index_)
      throw usage_error("wal " + path_.string() + ": cannot truncate through index " + std::to_string(index) +
                        ", the log ends at " + std::to_string(last_index_));
    auto const bytes = read_file();
    std::size_t off = header_bytes;
    std::size_t dropped = 0;
    while (off + record_header_bytes <= bytes.size()) {
      wal_entry e;
      std::size_t const len = decode_header(bytes.data() + off, e);
      if (e.index > index) break;
      off += record_header_bytes + len;
      ++dropped;
    }
    std::byte header[header_bytes];
    encode_header(header, index);
    std::span<const std::byte> const pieces[] = {std::span<const std::byte>(header),
                                                 std::span<const std::byte>(bytes).subspan(std::min(off, bytes.size()))};
    strata::detail::replace_file(path_, std::span(pieces), report());
    sync_dir();
    close_fd();
    fd_ = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
    if (fd_ < 0) throw_errno("open");
    base_index_ = index;
    records_ -= std::min(records_, dropped);
    bytes_ = header_bytes + (bytes.size() - std::min(off, bytes.size()));
    unsynced_ = 0;
  }

  [[nodiscard]] std::uint64_t base_index() const noexcept { return base_index_; }
  [[nodiscard]] std::uint64_t last_index() const noexcept { return last_index_; }
  /// \brief The term of the newest record (0 for an empty log).
  [[nodiscard]] std::uint64_t last_term() const noexcept { return last_term_; }
  [[nodiscard]] std::size_t size() const noexcept { return records_; }
  [[nodiscard]] std::uint64_t file_bytes() const noexcept { return bytes_; }
  [[nodiscard]] wal_open_report const& open_report() const noexcept { return report_; }
  [[nodiscard]] std::filesystem::path const& path() const noexcept { return path_; }

 private:
  static std::uint64_t checksum(std::uint64_t term, std::uint64_t index, std::uint32_t len, std::byte const* data) {
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, &term, sizeof term);
    XXH3_64bits_update(&st, &index, sizeof index);
    XXH3_64bits_update(&st, &len, sizeof len);
    if (len) XXH3_64bits_update(&st, data, len);
    return XXH3_64bits_digest(&st);
  }
  static void put(std::byte* p, auto v) { std::memcpy(p, &v, sizeof v); }
  template <class T>
  static T get(std::byte const* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static void encode_record(std::byte* p, std::uint64_t term, std::uint64_t index, std::span<const std::byte> data) {
    auto const len = static_cast<std::uint32_t>(data.size());
    if (!data.empty()) std::memcpy(p + record_header_bytes, data.data(), data.size());
    put(p, record_magic);
    put(p + 4, len);
    put(p + 8, term);
    put(p + 16, index);
    put(p + 24, checksum(term, index, len, p + record_header_bytes));
  }
  static std::size_t decode_header(std::byte const* p, wal_entry& e) {
    e.term = get<std::uint64_t>(p + 8);
    e.index = get<std::uint64_t>(p + 16);
    return get<std::uint32_t>(p + 4);
  }
  static void encode_header(std::byte* p, std::uint64_t base) {
    std::memset(p, 0, header_bytes);
    std::memcpy(p, "STRATWAL", 8);
    put(p + 8, base);
    put(p + 24, XXH3_64bits(p, 24));
  }

  void open_and_scan() {
    std::error_code ec;
    bool const exists = std::filesystem::exists(path_, ec);
    if (path_.has_parent_path()) std::filesystem::create_directories(path_.parent_path(), ec);
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) throw_errno("open");
    auto const bytes = read_file();
    if (bytes.size() < header_bytes || std::memcmp(bytes.data(), "STRATWAL", 8) != 0 ||
        get<std::uint64_t>(bytes.data() + 24) != XXH3_64bits(bytes.data(), 24)) {
      if (!bytes.empty()) {
        // A header that is not ours or is damaged: keep the file aside for inspection, never silently reuse it.
        auto const aside = path_.string() + ".corrupt";
        opt_.log("wal " + path_.string() + ": header missing or damaged (" + std::to_string(bytes.size()) +
                 " bytes); moved aside to " + aside + " and started an empty log");
        close_fd();
        std::filesystem::rename(path_, aside, ec);
        fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
        if (fd_ < 0) throw_errno("open");
      }
      std::byte header[header_bytes];
      encode_header(header, 0);
      if (::ftruncate(fd_, 0) != 0) throw_errno("ftruncate");
      append_bytes(header);
      sync();
      sync_dir();
      report_.created = true;
      bytes_ = header_bytes;
      return;
    }
    (void)exists;
    base_index_ = last_index_ = get<std::uint64_t>(bytes.data() + 8);
    std::size_t off = header_bytes;
    std::string reason;
    while (off < bytes.size()) {
      std::size_t const left = bytes.size() - off;
      if (left < record_header_bytes) {
        reason = "incomplete record header (" + std::to_string(left) + " bytes)";
        break;
      }
      auto const* p = bytes.data() + off;
      wal_entry e;
      std::size_t const len = decode_header(p, e);
      if (get<std::uint32_t>(p) != record_magic) {
        reason = "bad record magic";
        break;
      }
      if (len > opt_.max_record_bytes) {
        reason = "record length " + std::to_string(len) + " exceeds max_record_bytes";
        break;
      }
      if (left < record_header_bytes + len) {
        reason = "incomplete record (" + std::to_string(left - record_header_bytes) + " of " + std::to_string(len) +
                 " data bytes)";
        break;
      }
      if (checksum(e.term, e.index, static_cast<std::uint32_t>(len), p + record_header_bytes) !=
          get<std::uint64_t>(p + 24)) {
        reason = "checksum mismatch";
        break;
      }
      if (e.index != last_index_ + 1) {
        reason = "index " + std::to_string(e.index) + " where " + std::to_string(last_index_ + 1) + " was expected";
        if (opt_.refuse_sequence_break)
          throw error("wal " + path_.string() + ": the record at offset " + std::to_string(off) + " has " + reason +
                      " (" + (e.index <= last_index_ ? "a repeated index" : "a gap") +
                      "); its checksum holds, so this is not a torn write: refusing to open the log");
        break;
      }
      last_index_ = e.index;
      last_term_ = e.term;
      ++records_;
      off += record_header_bytes + len;
    }
    report_.records = records_;
    bytes_ = off;
    if (off < bytes.size()) {
      report_.truncated_bytes = bytes.size() - off;
      report_.reason = reason;
      opt_.log("wal " + path_.string() + ": " + reason + " at offset " + std::to_string(off) + " after index " +
               std::to_string(last_index_) + "; truncated " + std::to_string(report_.truncated_bytes) +
               " bytes of torn or corrupt tail, the log now ends at index " + std::to_string(last_index_));
      if (::ftruncate(fd_, static_cast<off_t>(off)) != 0) throw_errno("ftruncate");
      sync();
    }
  }

  /// The whole log as it is on disk (a file that shrinks meanwhile reads short: the scan copes).
  [[nodiscard]] std::vector<std::byte> read_file() const {
    return strata::detail::read_to_end(fd_, path_, strata::detail::on_shrink::keep, report());
  }
  void append_bytes(std::span<const std::byte> bytes) {
    if (int const e = strata::detail::write_all(fd_, bytes)) report().fail("write", path_, e);
  }
  /// Best effort, as for every rename of the log: a directory that cannot be synced does not fail it.
  void sync_dir() const { (void)strata::detail::try_fsync_directory(path_.parent_path()); }
  [[nodiscard]] strata::detail::io_context<> report() const { return {"wal", {}}; }
  [[noreturn]] void throw_errno(std::string const& what) const {
    int const e = errno;
    report().fail(what, path_, e);
  }
  void close_fd() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void swap(wal& o) noexcept {
    std::swap(path_, o.path_);
    std::swap(opt_, o.opt_);
    std::swap(fd_, o.fd_);
    std::swap(base_index_, o.base_index_);
    std::swap(last_index_, o.last_index_);
    std::swap(last_term_, o.last_term_);
    std::swap(records_, o.records_);
    std::swap(bytes_, o.bytes_);
    std::swap(unsynced_, o.unsynced_);
    std::swap(report_, o.report_);
    std::swap(buf_, o.buf_);
  }

  std::filesystem::path path_;
  wal_options opt_;
  int fd_ = -1;
  std::uint64_t base_index_ = 0;
  std::uint64_t last_index_ = 0;
  std::uint64_t last_term_ = 0;
  std::size_t records_ = 0;
  std::uint64_t bytes_ = 0;
  std::size_t unsynced_ = 0;
  wal_open_report report_;
  std::vector<std::byte> buf_;  ///< the record being appended
};

}  // namespace strata::replay
