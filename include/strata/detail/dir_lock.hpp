#pragma once
/// \file
/// \brief `detail::dir_lock`: one job per checkpoint directory (SPEC R12).
///
/// The lock is the file `DIR/.strata.lock`, created with `O_CREAT | O_EXCL` (so of two jobs that
/// start at once exactly one creates it), then written and fsync'ed. It names its holder: host,
/// pid, the pid's start time in clock ticks after boot (`/proc/<pid>/stat` field 22, which tells a
/// recycled pid apart), the boot id, the wall-clock start time (ISO 8601), who took it and a random
/// token (the record and its text: `strata/detail/lock_holder.hpp`). The holder's destructor removes
/// the file only while it still carries the holder's token.
///
/// A job that finds the file judges it:
/// - a holder on this host whose pid is gone (or a zombie), whose pid now belongs to a process that
///   started at another time, or that ran before the last reboot, is *stale*: the job takes it over;
/// - a live holder is refused with a `usage_error` naming the directory, the holder's host, pid and
///   start time, and the file to remove if that job is no longer running;
/// - a holder on another host cannot be checked from here (a restart after the loss of a node runs
///   on other nodes): it is judged by its lease. The holder renews the file's modification time from
///   a background thread (`dir_lock_settings::renew_every`); the job watches the file for up to one
///   `lease` by its own clock (so clock skew between hosts does not matter): renewed meanwhile, the
///   holder is alive and the job is refused; not renewed, the lock is stale. A file whose last
///   renewal is more than two leases old by this host's clock is stale at once;
/// - an empty or incomplete file (a crash between create and write) is stale once it is older than
///   a few seconds; younger, it is being written right now: the job waits a moment, then refuses.
///
/// Taking over is serialised so that of several jobs that find the same stale lock at once exactly
/// one wins. A plain "rename the stale file away, the winner of the rename proceeds" is not enough:
/// a slow job that judged the stale file may rename away the *new* lock its faster rival has just
/// created (the path names another file by then). Instead the take-over works on the file itself:
/// - with `flock` (local file systems; NFS, Lustre, GPFS where it is enabled): open the file, take
///   `flock(LOCK_EX)` on it, check that the path still names that very file (same device and inode),
///   read and judge it, unlink it, close; then create the new lock with `O_EXCL`. Whoever waited for
///   the same `flock` finds afterwards that the path names another file (or none) and starts over. A
///   new lock's creator holds `flock` on it while writing, so nobody reads it half-written.
/// - without `flock` (it fails with ENOLCK, EOPNOTSUPP, ...): the right to replace one particular
///   stale file goes to whoever creates `DIR/.strata.lock.takeover.<key>` with `O_EXCL`, the key
///   being a hash of that file's content and inode; the winner checks that the path still holds
///   exactly that content and inode, unlinks it and removes its claim. Only the claimant may replace
///   that file, so the check stays true until the unlink. A claim left behind by a crash in between
///   makes later jobs refuse with a message naming both files.
///
/// The lock belongs to a job, not to one object: a second `acquire` in the same process shares it
/// (a process-wide count; the file goes with the last handle), unless
/// `dir_lock_settings::share_within_process` is false. A forked child does not inherit it.
///
/// Linux-specific parts (`/proc`) degrade gracefully: without them a pid counts as alive while
/// `kill(pid, 0)` says it exists (the probing: `strata/detail/process_probe.hpp`).

#include <strata/detail/lock_holder.hpp>
#include <strata/detail/posix_io.hpp>
#include <strata/detail/process_probe.hpp>
#include <strata/error.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

namespace strata::detail {

/// \brief Tunables of `dir_lock::acquire` (the defaults suit production; tests shorten them).
struct dir_lock_settings {
  /// An empty or incomplete lock file younger than this is being written by a live job.
  std::chrono::milliseconds incomplete_grace{10'000};
  /// How long to wait for another job that is writing or replacing the lock file right now.
  std::chrono::milliseconds busy_wait{5'000};
  /// Serialise take-overs with `flock`; false: with claim files (as on file systems without flock).
  bool use_flock = true;
  /// A second `acquire` of the same directory in the same process shares the lock (the same job:
  /// e.g. a checkpointer that restores while the one that wrote is still alive); the file goes
  /// with the last handle. false: refused like another job.
  bool share_within_process = true;
  /// Testing: a pause between judging a lock stale and taking it over, to widen races.
  std::chrono::milliseconds takeover_pause{0};
  /// How long a lock of another host may go without renewal before it counts as stale (see the file
  /// comment). The holder renews it every third of this; zero: the holder never renews, and a lock
  /// of another host is always refused.
  std::chrono::milliseconds lease{30'000};
};

/// \brief An exclusive lock of a directory for one job: move-only RAII over `DIR/.strata.lock`.
///
/// \code
/// auto lock = strata::detail::dir_lock::acquire("ckpt", "rank 0");  // usage_error if another job holds it
/// \endcode
class dir_lock {
 public:
  static constexpr std::string_view file_name = ".strata.lock";

  /// \brief What a lock file says about its holder (format in `strata/detail/lock_holder.hpp`).
  using holder = lock_holder;

  dir_lock() noexcept = default;
  dir_lock(dir_lock&& o) noexcept
      : file_(std::move(o.file_)), key_(std::move(o.key_)), token_(std::exchange(o.token_, {})),
        pid_(std::exchange(o.pid_, 0)), took_over_(std::move(o.took_over_)) {}
  dir_lock& operator=(dir_lock&& o) noexcept {
    if (this != &o) {
      release();
      file_ = std::move(o.file_);
      key_ = std::move(o.key_);
      token_ = std::exchange(o.token_, {});
      pid_ = std::exchange(o.pid_, 0);
      took_over_ = std::move(o.took_over_);
    }
    return *this;
  }
  dir_lock(dir_lock const&) = delete;
  dir_lock& operator=(dir_lock const&) = delete;
  ~dir_lock() { release(); }

  /// \brief Locks `dir` (which must exist) for this process; `who` names the taker in the file.
  /// A directory this process holds already is shared (see `dir_lock_settings::share_within_process`).
  /// \throws usage_error when another job holds the lock, or it cannot be created.
  static dir_lock acquire(std::filesystem::path const& dir, std::string const& who, dir_lock_settings const& s = {}) {
    std::error_code ec;
    auto key = std::filesystem::weakly_canonical(dir, ec);
    if (ec) key = std::filesystem::absolute(dir, ec);
    auto const k = (key / file_name).string();
    auto const pid = static_cast<long long>(::getpid());
    std::lock_guard g{registry_mutex()};
    auto& reg = registry();
    if (auto it = reg.find(k); it != reg.end()) {
      bool const valid = it->second.pid == pid && token_in(dir / file_name) == it->second.token;
      if (valid && s.share_within_process) {
        ++it->second.count;
        dir_lock l;
        l.file_ = dir / file_name;
        l.key_ = k;
        l.token_ = it->second.token;
        l.pid_ = pid;
        return l;
      }
      if (!valid) reg.erase(it);  // inherited through fork, or the file was removed by hand
    }
    auto l = acquire_file(dir, who, s);
    l.key_ = k;
    std::shared_ptr<renewer> renew;
    if (s.lease.count() > 0)
      renew = renewer::start(l.file_, l.token_, std::max(std::chrono::milliseconds(1), s.lease / 3));
    reg[k] = shared_entry{l.token_, pid, 1, std::move(renew)};
    return l;
  }

  /// \brief A line about the lock of `dir` for tools: nullopt when unlocked.
  static std::optional<std::string> describe(std::filesystem::path const& dir) {
    auto const file = dir / file_name;
    auto const content = try_read_file(file);
    if (!content) return std::nullopt;
    auto const h = holder::parse(*content);
    if (!h) return "empty or incomplete lock file " + file.string();
    auto const v = judge(*h, holder::of_this_process(""));
    if (v.empty()) return "in use by " + h->describe();
    if (v == other_host) return "in use by " + h->describe() + " (another host: cannot be checked from here)";
    return "stale lock of " + h->describe() + " (" + v + "); the next job takes it over";
  }

  /// \brief Removes the lock file if it still carries our token and no other handle of this
  /// process shares it (noexcept; idempotent).
  void release() noexcept {
    if (token_.empty()) return;
    auto const token = std::exchange(token_, {});
    if (pid_ != static_cast<long long>(::getpid())) return;  // a forked child does not own its parent's lock
    try {
      std::lock_guard g{registry_mutex()};
      auto& reg = registry();
      if (auto it = reg.find(key_); it != reg.end() && it->second.token == token && it->second.pid == pid_) {
        if (--it->second.count > 0) return;  // another handle of this process still holds it
        reg.erase(it);  // joins the renewer: no renewal after the unlink
      }
      if (token_in(file_) == token && ::unlink(file_.c_str()) == 0) (void)try_fsync_directory(file_.parent_path());
    } catch (...) {
    }
  }

  [[nodiscard]] bool held() const noexcept { return !token_.empty(); }
  [[nodiscard]] std::filesystem::path const& file() const noexcept { return file_; }
  [[nodiscard]] std::string const& token() const noexcept { return token_; }
  /// \brief The stale lock replaced by `acquire`, described for a log line (nullopt: there was none).
  [[nodiscard]] std::optional<std::string> const& took_over() const noexcept { return took_over_; }

 private:
  static constexpr std::string_view other_host = "another host";

  /// Touches the lock file every `period` while it still carries `token` (the lease, see the file comment).
  class renewer {
   public:
    renewer(std::filesystem::path file, std::string token, std::chrono::milliseconds period)
        : file_(std::move(file)), token_(std::move(token)), period_(period), thread_([this] { run(); }) {}
    renewer(renewer const&) = delete;
    renewer& operator=(renewer const&) = delete;
    ~renewer() {
      {
        std::lock_guard g{m_};
        stop_ = true;
      }
      cv_.notify_all();
      thread_.join();
    }
    /// Owned so that a forked child never destroys it: the thread stayed in the parent, and the
    /// child's copies of the mutex and condition variable are in whatever state the fork caught
    /// (destroying a condition variable the parent's thread waited on blocks for ever).
    static std::shared_ptr<renewer> start(std::filesystem::path file, std::string token, std::chrono::milliseconds period) {
      auto const owner = ::getpid();
      return std::shared_ptr<renewer>(new renewer(std::move(file), std::move(token), period), [owner](renewer* r) {
        if (::getpid() == owner) delete r;  // else: a forked child's copy, left alone
      });
    }

   private:
    void run() {
      std::unique_lock l{m_};
      while (!cv_.wait_for(l, period_, [&] { return stop_; })) {
        if (token_in(file_) != token_) return;  // taken over (we were judged stale): it is not ours to renew
        (void)::utimensat(AT_FDCWD, file_.c_str(), nullptr, 0);
      }
    }
    std::filesystem::path file_;
    std::string token_;
    std::chrono::milliseconds period_;
    std::mutex m_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::thread thread_;  // last: starts once the members it uses exist
  };

  /// The handles of this process on one lock file.
  struct shared_entry {
    std::string token;
    long long pid = 0;
    std::size_t count = 0;
    std::shared_ptr<renewer> renew;  ///< stops (joins) before the file goes
  };
  static std::mutex& registry_mutex() {
    static std::mutex m;
    return m;
  }
  static std::map<std::string, shared_entry>& registry() {
    static std::map<std::string, shared_entry> r;
    return r;
  }
  static std::string token_in(std::filesystem::path const& file) {
    auto const h = holder::read(file);
    return h ? h->token : std::string{};
  }

  /// The lock file protocol (see the file comment).
  static dir_lock acquire_file(std::filesystem::path const& dir, std::string const& who, dir_lock_settings const& s) {
    auto const file = dir / file_name;
    auto const me = holder::of_this_process(who);
    auto const text = me.to_text();
    std::optional<std::string> took_over;
    std::optional<std::pair<std::string, std::int64_t>> watched_dead;  // content and mtime seen unrenewed for a lease
    using clock = std::chrono::steady_clock;
    std::optional<clock::time_point> busy_since;  // first time we found the file being written or replaced
    auto wait_busy = [&](auto&& refuse) {
      auto const now = clock::now();
      if (!busy_since) busy_since = now;
      if (now - *busy_since >= s.busy_wait) refuse();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    };
    for (int attempt = 0; attempt < 1000; ++attempt) {
      // 1. The common case: no lock yet.
      if (unique_fd f{::open(file.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644)}) {
        if (s.use_flock) (void)::flock(f.get(), LOCK_EX | LOCK_NB);  // readers wait until it is complete
        int err = write_all(f.get(), std::as_bytes(std::span(text)));
        if (err == 0 && ::fsync(f.get()) != 0) err = errno;
        if (err != 0) {
          ::unlink(file.c_str());
          throw usage_error("cannot write the lock file " + file.string() + " of checkpoint directory " +
                            dir.string() + ": " + std::strerror(err));
        }
        if (!same_file(f.get(), file)) continue;  // replaced while we wrote it (see the file comment)
        (void)try_fsync_directory(dir);
        dir_lock l;
        l.file_ = file;
        l.token_ = me.token;
        l.pid_ = me.pid;
        l.took_over_ = std::move(took_over);
        return l;
      }
      if (errno != EEXIST)
        throw usage_error("cannot create the lock file " + file.string() + " of checkpoint directory " + dir.string() +
                          ": " + std::strerror(errno));

      // 2. A lock file exists: open it, and with flock hold it still while we judge it.
      unique_fd f{::open(file.c_str(), O_RDWR | O_CLOEXEC)};
      if (!f && (errno == EACCES || errno == EPERM || errno == EROFS)) f = unique_fd{::open(file.c_str(), O_RDONLY | O_CLOEXEC)};
      if (!f) {
        if (errno == ENOENT) continue;  // released meanwhile
        throw usage_error("cannot read the lock file " + file.string() + " of checkpoint directory " + dir.string() +
                          ": " + std::strerror(errno));
      }
      bool locked = false;
      if (s.use_flock) {
        if (::flock(f.get(), LOCK_EX | LOCK_NB) == 0) {
          locked = true;
        } else if (errno == EWOULDBLOCK || errno == EINTR) {
          wait_busy([&] {
            throw usage_error("checkpoint directory " + dir.string() + " is being locked by another job right now (" +
                              file.string() + " stayed locked for " + std::to_string(s.busy_wait.count()) +
                              " ms); if no job is using that directory, remove " + file.string());
          });
          continue;
        }  // else: flock unsupported here; claim files below
      }
      if (!same_file(f.get(), file)) continue;  // replaced or removed since we opened it
      struct stat st{};
      if (::fstat(f.get(), &st) != 0) continue;
      auto const content = read_text(f.get());
      auto const h = holder::parse(content);

      // 3. Judge it.
      std::string stale;
      if (!h) {
        auto const age = file_age(st);
        if (age < s.incomplete_grace) {
          wait_busy([&] {
            throw usage_error("checkpoint directory " + dir.string() + " is being locked by another job right now (" +
                              file.string() + " is empty or incomplete, written " + std::to_string(age.count()) +
                              " ms ago); if no job is using that directory, remove " + file.string());
          });
          continue;
        }
        stale = "an empty or incomplete lock file written " + std::to_string(age.count() / 1000) +
                " s ago (a job that crashed while taking the lock)";
      } else {
        auto const v = judge(*h, me);
        if (v.empty()) {
          bool const self = h->host == me.host && h->pid == me.pid;
          throw usage_error("checkpoint directory " + dir.string() + " is in use by " +
                            (self ? "this very process (another checkpointer on the same directory is still alive): " +
                                        h->describe() + " (lock file " + file.string() + ")"
                                  : "another job: " + h->describe() + " (lock file " + file.string() +
                                        "); if that job is no longer running, remove " + file.string()));
        }
        if (v == other_host) {
          auto const refuse = [&](std::string const& why) {
            return usage_error("checkpoint directory " + dir.string() + " is in use by a job on another host: " +
                               h->describe() + " (lock file " + file.string() + ", " + why +
                               "); if that job is no longer running, remove " + file.string());
          };
          if (s.lease.count() <= 0)
            throw refuse("host " + me.host + " cannot check whether it is still running");
          auto const age = file_age(st);
          if (watched_dead && *watched_dead == std::pair{content, mtime_of(st)}) {
            stale = "a stale lock of " + h->describe() + " (not renewed for a whole lease of " +
                    std::to_string(s.lease.count()) + " ms: that job is gone)";
          } else if (age > 2 * s.lease) {
            stale = "a stale lock of " + h->describe() + " (last renewed " + std::to_string(age.count() / 1000) +
                    " s ago, its lease is " + std::to_string(s.lease.count()) + " ms: that job is gone)";
          } else {
            // Watch it for one lease, without holding it: renewed means alive.
            if (locked) (void)::flock(f.get(), LOCK_UN);
            f.reset();
            switch (watch_renewal(file, st, s.lease)) {
              case renewal::renewed: throw refuse("renewed while host " + me.host + " watched it");
              case renewal::replaced: continue;
              case renewal::none: watched_dead = std::pair{content, mtime_of(st)}; continue;  // judge it again, locked
            }
          }
        } else {
          stale = "a stale lock of " + h->describe() + " (" + v + ")";
        }
      }

      // 4. Take it over.
      if (s.takeover_pause.count() > 0) std::this_thread::sleep_for(s.takeover_pause);
      if (locked) {
        ::unlink(file.c_str());  // we hold flock on the very file the path names: nobody else can replace it
        (void)try_fsync_directory(dir);
        took_over = stale;
        continue;
      }
      auto const key = claim_key(content, st);
      auto const claim = std::filesystem::path(file.string() + ".takeover." + key);
      unique_fd c{::open(claim.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)};
      if (!c) {
        if (errno != EEXIST)
          throw usage_error("cannot create " + claim.string() + " to take over " + stale + " in " + dir.string() + ": " +
                            std::strerror(errno) + "; if no job is using that directory, remove " + file.string());
        // Another job is replacing this very file: wait until the path names something else.
        wait_busy([&] {
          throw usage_error("checkpoint directory " + dir.string() + ": another job's take-over of " + stale +
                            " did not finish (" + claim.string() + " exists); if no job is using that directory, remove " +
                            file.string() + " and " + claim.string());
        });
        continue;
      }
      (void)write_all(c.get(), std::as_bytes(std::span(text)));  // for whoever finds a claim left behind
      c.reset();
      if (still_holds(file, content, st)) {
        ::unlink(file.c_str());
        took_over = stale;
      }
      ::unlink(claim.c_str());
      (void)try_fsync_directory(dir);
    }
    throw usage_error("cannot lock checkpoint directory " + dir.string() + ": other jobs keep changing " +
                      file.string() + "; if no job is using that directory, remove it");
  }

  /// Empty: the holder is alive (or on another host: `other_host`); otherwise why it is stale.
  static std::string judge(holder const& h, holder const& me) {
    if (h.host != me.host) return std::string(other_host);
    if (!h.boot_id.empty() && !me.boot_id.empty() && h.boot_id != me.boot_id) return "this host rebooted since";
    if (h.pid == me.pid && (h.start_ticks == me.start_ticks || h.start_ticks == 0 || me.start_ticks == 0)) return {};
    return why_process_gone(h.pid, h.start_ticks);
  }

  /// Whether the path still names the file open as `f`.
  static bool same_file(int f, std::filesystem::path const& p) {
    struct stat a{}, b{};
    return ::fstat(f, &a) == 0 && ::stat(p.c_str(), &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
  }
  /// Whether the path still names the file judged: same inode and same content.
  static bool still_holds(std::filesystem::path const& p, std::string const& content, struct stat const& was) {
    unique_fd f{::open(p.c_str(), O_RDONLY | O_CLOEXEC)};
    struct stat now{};
    return f && ::fstat(f.get(), &now) == 0 && now.st_dev == was.st_dev && now.st_ino == was.st_ino &&
           read_text(f.get()) == content;
  }
  static std::string claim_key(std::string const& content, struct stat const& st) {
    auto const h = std::hash<std::string>{}(content + '/' + std::to_string(st.st_ino) + '/' +
                                            std::to_string(st.st_mtim.tv_sec) + '.' + std::to_string(st.st_mtim.tv_nsec));
    char buf[24];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
  }
  static std::int64_t mtime_of(struct stat const& st) noexcept {
    return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  }
  enum class renewal { renewed, replaced, none };
  /// Polls the file for up to `lease` (this host's steady clock): its mtime moved, or it was
  /// removed or replaced, or neither.
  static renewal watch_renewal(std::filesystem::path const& file, struct stat const& was, std::chrono::milliseconds lease) {
    auto const until = std::chrono::steady_clock::now() + lease;
    auto const step = std::clamp(lease / 20, std::chrono::milliseconds(5), std::chrono::milliseconds(250));
    for (;;) {
      struct stat now{};
      if (::stat(file.c_str(), &now) != 0 || now.st_ino != was.st_ino || now.st_dev != was.st_dev) return renewal::replaced;
      if (mtime_of(now) != mtime_of(was)) return renewal::renewed;
      if (std::chrono::steady_clock::now() >= until) return renewal::none;
      std::this_thread::sleep_for(step);
    }
  }
  static std::chrono::milliseconds file_age(struct stat const& st) {
    struct timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    auto const ms = (static_cast<long long>(now.tv_sec) - st.st_mtim.tv_sec) * 1000 +
                    (static_cast<long long>(now.tv_nsec) - st.st_mtim.tv_nsec) / 1'000'000;
    return std::chrono::milliseconds(ms);
  }

  std::filesystem::path file_;
  std::string key_;    ///< the lock file's canonical path, in this process's registry
  std::string token_;  ///< empty: holds nothing
  long long pid_ = 0;
  std::optional<std::string> took_over_;
};

}  // namespace strata::detail
