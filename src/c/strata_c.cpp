// The C API (include/strata/c/strata.h) over strata::configured_checkpointer<strata::comm::mpi>.
// Every entry point catches everything: strata's exceptions become return codes, their text the
// handle's last error (and this thread's), prefixed with the call and the rank.
#include <strata/c/strata.h>

#include "configuration.hpp"

#include <strata/checkpoint/configured.hpp>

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace {

thread_local std::string thread_error;  // the last failed call of this thread

/// A buffer the C program owns, as a range `protect` accepts. Kept by the handle: the checkpointer
/// holds a pointer to it.
struct buffer_base {
  virtual ~buffer_base() = default;
};

template <class T>
struct fixed_buffer final : buffer_base {
  std::span<T> view;
};

/// A buffer whose size a restore may change, through the program's resize function (or realloc).
template <class T>
class resizable_buffer final : public buffer_base {
 public:
  using value_type = T;
  resizable_buffer(std::string name, int rank, void** data, std::int64_t* count, strata_resize_fn fn, void* user)
      : name_(std::move(name)), rank_(rank), data_(data), count_(count), fn_(fn), user_(user) {}
  T* data() { return static_cast<T*>(*data_); }
  std::size_t size() const {
    if (*count_ < 0 || (*data_ == nullptr && *count_ > 0))
      throw strata::usage_error("rank " + std::to_string(rank_) + ": buffer '" + name_ + "': *count is " +
                                std::to_string(*count_) + (*data_ ? "" : " with *data NULL"));
    return static_cast<std::size_t>(*count_);
  }
  void resize(std::size_t n) {
    if (n == size()) return;
    void* p = fn_ ? fn_(*data_, static_cast<std::int64_t>(n), sizeof(T), user_) : std::realloc(*data_, n * sizeof(T));
    if (p == nullptr && n > 0)
      throw strata::restore_error("rank " + std::to_string(rank_) + ": buffer '" + name_ + "': the resize function gave no memory for " +
                                  std::to_string(n) + " elements");
    *data_ = p;
    *count_ = static_cast<std::int64_t>(n);
  }

 private:
  std::string name_;
  int rank_;
  void** data_;
  std::int64_t* count_;
  strata_resize_fn fn_;
  void* user_;
};

int code_of_current_exception(std::string& what) {
  try {
    throw;
  } catch (strata::usage_error const& e) {
    what = e.what();
    return STRATA_EUSAGE;
  } catch (strata::checkpoint_error const& e) {
    what = e.what();
    return STRATA_ECHECKPOINT;
  } catch (strata::restore_error const& e) {
    what = e.what();
    return STRATA_ERESTORE;
  } catch (strata::comm_error const& e) {
    what = e.what();
    return STRATA_ECOMM;
  } catch (std::bad_alloc const&) {
    what = "out of memory";
    return STRATA_ENOMEM;
  } catch (std::exception const& e) {
    what = e.what();
    return STRATA_EFAIL;
  } catch (...) {
    what = "unknown exception";
    return STRATA_EFAIL;
  }
}

int world_rank() noexcept {
  int init = 0, fin = 0, r = -1;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (init && !fin) MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}

std::string rank_text(int r) { return r >= 0 ? "rank " + std::to_string(r) : "rank ?"; }

}  // namespace

struct strata_ckpt {
  int rank = -1;
  mutable std::string error;  // the last failure on this handle (const queries record theirs too)
  std::vector<std::unique_ptr<buffer_base>> buffers;  // declared before ckpt: destroyed after it
  std::unique_ptr<strata::configured_checkpointer<>> ckpt;
};

namespace {

/// Records a failure of `call` on `h` (may be NULL) and returns `code`.
int fail(strata_ckpt const* h, char const* call, int code, std::string const& text) {
  // strata's agreed errors start with the rank that failed ("rank 0: ..."), on every rank: the
  // calling rank is named first unless it is that one.
  auto const me = rank_text(h ? h->rank : world_rank());
  bool const mine = text.rfind(me + ":", 0) == 0;
  thread_error = std::string(call) + ": " + (mine ? "" : me + ": ") + text;
  if (h) h->error = thread_error;
  return code;
}

/// Runs `f` on a live handle, mapping every exception to a code.
template <class H, class F>
int guarded(H* h, char const* call, F&& f) noexcept {
  if (h == nullptr)
    return fail(nullptr, call, STRATA_EUSAGE, "the handle is NULL (strata_init not called, failed, or finalised)");
  try {
    return f(*h);
  } catch (...) {
    std::string what;
    int const code = code_of_current_exception(what);
    return fail(h, call, code, what);
  }
}

template <class T>
void protect_fixed(strata_ckpt& h, char const* name, void* data, std::int64_t count) {
  auto b = std::make_unique<fixed_buffer<T>>();
  b->view = std::span<T>(static_cast<T*>(data), static_cast<std::size_t>(count));
  auto& view = b->view;
  h.buffers.push_back(std::move(b));
  try {
    h.ckpt->protect(name, view);
  } catch (...) {
    h.buffers.pop_back();
    throw;
  }
}

template <class T>
void protect_resizable(strata_ckpt& h, char const* name, void** data, std::int64_t* count, strata_resize_fn fn,
                       void* user) {
  auto b = std::make_unique<resizable_buffer<T>>(name, h.rank, data, count, fn, user);
  auto& range = *b;
  h.buffers.push_back(std::move(b));
  try {
    h.ckpt->protect(name, range);
  } catch (...) {
    h.buffers.pop_back();
    throw;
  }
}

/// Calls `f.template operator()<T>()` for the C type code `type`; false for an unknown code.
template <class F>
bool with_type(int type, F&& f) {
  switch (type) {
    case STRATA_INT32: f.template operator()<std::int32_t>(); return true;
    case STRATA_INT64: f.template operator()<std::int64_t>(); return true;
    case STRATA_FLOAT: f.template operator()<float>(); return true;
    case STRATA_DOUBLE: f.template operator()<double>(); return true;
    case STRATA_BYTES: f.template operator()<unsigned char>(); return true;
    default: return false;
  }
}

/// The checks every protect makes before the C++ checkpointer sees the buffer; "" when fine.
std::string check_buffer(char const* name, int type, std::int64_t count, bool null_data) {
  if (name == nullptr) return "the buffer name is NULL";
  std::string const b = std::string("buffer '") + name + "': ";
  if (type < STRATA_INT32 || type > STRATA_BYTES) return b + "unknown element type " + std::to_string(type) + " (use STRATA_INT32 ... STRATA_BYTES)";
  if (count < 0) return b + "negative count " + std::to_string(count);
  if (null_data && count > 0) return b + "data is NULL with count " + std::to_string(count);
  return {};
}

}  // namespace

extern "C" {

int strata_init(strata_ckpt** out, MPI_Comm comm, char const* config_file, char const* directory) {
  char const* call = "strata_init";
  if (out == nullptr) return fail(nullptr, call, STRATA_EUSAGE, "out is NULL (pass the address of a strata_ckpt* set to NULL)");
  if (*out != nullptr)
    return fail(nullptr, call, STRATA_EUSAGE,
                "*out is not NULL: the handle is initialised already (strata_finalize it first) or was not set to NULL");
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (!init || fin) return fail(nullptr, call, STRATA_EUSAGE, "MPI is not initialised (call MPI_Init first)");
  if (comm == MPI_COMM_NULL) return fail(nullptr, call, STRATA_EUSAGE, "the communicator is MPI_COMM_NULL");
  auto h = std::unique_ptr<strata_ckpt>(new (std::nothrow) strata_ckpt);
  if (!h) return fail(nullptr, call, STRATA_ENOMEM, "out of memory");
  MPI_Comm_rank(comm, &h->rank);
  try {
    auto const cfg = strata::c_api::load_configuration(directory, config_file);
    h->ckpt = std::make_unique<strata::configured_checkpointer<>>(strata::comm::mpi{comm},
                                                                  strata::checkpoint::to_options(cfg));
  } catch (...) {
    std::string what;
    int const code = code_of_current_exception(what);
    return fail(h.get(), call, code, what);
  }
  *out = h.release();
  return STRATA_OK;
}

int strata_init_f(strata_ckpt** out, MPI_Fint comm, char const* config_file, char const* directory) {
  int init = 0;
  MPI_Initialized(&init);
  if (!init) return fail(nullptr, "strata_init", STRATA_EUSAGE, "MPI is not initialised (call MPI_Init first)");
  return strata_init(out, MPI_Comm_f2c(comm), config_file, directory);
}

int strata_finalize(strata_ckpt** h) {
  char const* call = "strata_finalize";
  if (h == nullptr) return fail(nullptr, call, STRATA_EUSAGE, "h is NULL (pass the address of the handle)");
  if (*h == nullptr)
    return fail(nullptr, call, STRATA_EUSAGE, "the handle is NULL (never initialised, or finalised already)");
  std::unique_ptr<strata_ckpt> owned{std::exchange(*h, nullptr)};
  int const code = guarded(owned.get(), call, [](strata_ckpt& c) -> int {
    c.ckpt->wait();
    return STRATA_OK;
  });
  owned.reset();  // collective; the checkpointer's destructor logs (never throws) what it cannot report
  return code;
}

int strata_protect(strata_ckpt* h, char const* name, void* data, int type, std::int64_t count) {
  return guarded(h, "strata_protect", [&](strata_ckpt& c) -> int {
    if (auto why = check_buffer(name, type, count, data == nullptr); !why.empty())
      return fail(&c, "strata_protect", STRATA_EUSAGE, why);
    with_type(type, [&]<class T>() { protect_fixed<T>(c, name, data, count); });
    return STRATA_OK;
  });
}

int strata_protect_resizable(strata_ckpt* h, char const* name, void** data, std::int64_t* count, int type,
                             strata_resize_fn resize, void* user) {
  return guarded(h, "strata_protect_resizable", [&](strata_ckpt& c) -> int {
    if (name != nullptr && (data == nullptr || count == nullptr))
      return fail(&c, "strata_protect_resizable", STRATA_EUSAGE,
                  std::string("buffer '") + name + "': " + (data ? "count" : "data") + " is NULL (pass the address of the variable)");
    if (auto why = check_buffer(name, type, count ? *count : 0, data == nullptr || *data == nullptr); !why.empty())
      return fail(&c, "strata_protect_resizable", STRATA_EUSAGE, why);
    with_type(type, [&]<class T>() { protect_resizable<T>(c, name, data, count, resize, user); });
    return STRATA_OK;
  });
}

int strata_checkpoint(strata_ckpt* h, std::uint64_t* version) {
  return guarded(h, "strata_checkpoint", [&](strata_ckpt& c) -> int {
    auto const v = c.ckpt->checkpoint();
    if (version) *version = v;
    return STRATA_OK;
  });
}

int strata_step(strata_ckpt* h, std::uint64_t step, int* checkpointed) {
  return guarded(h, "strata_step", [&](strata_ckpt& c) -> int {
    bool const taken = c.ckpt->step(step);
    if (checkpointed) *checkpointed = taken ? 1 : 0;
    return STRATA_OK;
  });
}

int strata_stop_requested(strata_ckpt const* h, int* stop) {
  return guarded(h, "strata_stop_requested", [&](strata_ckpt const& c) -> int {
    if (stop == nullptr) return fail(&c, "strata_stop_requested", STRATA_EUSAGE, "stop is NULL");
    *stop = c.ckpt->stop_requested() ? 1 : 0;
    return STRATA_OK;
  });
}

int strata_restore_latest(strata_ckpt* h, std::uint64_t* version) {
  return guarded(h, "strata_restore_latest", [&](strata_ckpt& c) -> int {
    auto const v = c.ckpt->restore_latest();
    if (!v) return fail(&c, "strata_restore_latest", STRATA_ENONE, "no checkpoint in " + c.ckpt->settings().directory.string());
    if (version) *version = *v;
    return STRATA_OK;
  });
}

int strata_restore(strata_ckpt* h, std::uint64_t version) {
  return guarded(h, "strata_restore", [&](strata_ckpt& c) -> int {
    c.ckpt->restore(version);
    return STRATA_OK;
  });
}

int strata_wait(strata_ckpt* h) {
  return guarded(h, "strata_wait", [](strata_ckpt& c) -> int {
    c.ckpt->wait();
    return STRATA_OK;
  });
}

int strata_current_version(strata_ckpt const* h, std::uint64_t* version) {
  return guarded(h, "strata_current_version", [&](strata_ckpt const& c) -> int {
    if (version == nullptr) return fail(&c, "strata_current_version", STRATA_EUSAGE, "version is NULL");
    auto const v = c.ckpt->current_version();
    if (!v) return fail(&c, "strata_current_version", STRATA_ENONE, "no version restored or committed yet");
    *version = *v;
    return STRATA_OK;
  });
}

int strata_last_step(strata_ckpt const* h, std::uint64_t* step) {
  return guarded(h, "strata_last_step", [&](strata_ckpt const& c) -> int {
    if (step == nullptr) return fail(&c, "strata_last_step", STRATA_EUSAGE, "step is NULL");
    *step = c.ckpt->last_step();
    return STRATA_OK;
  });
}

char const* strata_last_error(strata_ckpt const* h) { return h ? h->error.c_str() : thread_error.c_str(); }

char const* strata_code_name(int code) {
  switch (code) {
    case STRATA_OK: return "STRATA_OK";
    case STRATA_ENONE: return "STRATA_ENONE";
    case STRATA_EUSAGE: return "STRATA_EUSAGE";
    case STRATA_ECHECKPOINT: return "STRATA_ECHECKPOINT";
    case STRATA_ERESTORE: return "STRATA_ERESTORE";
    case STRATA_ECOMM: return "STRATA_ECOMM";
    case STRATA_ENOMEM: return "STRATA_ENOMEM";
    case STRATA_EFAIL: return "STRATA_EFAIL";
    default: return "unknown code";
  }
}

}  // extern "C"
