/* strata C API: checkpoint and restore the state of a C (or Fortran, through iso_c_binding) MPI
 * program with strata's checkpointer, its policies chosen by a configuration file and STRATA_*
 * environment variables (docs/configuration.md). Compiled library: strata::c (libstrata_c).
 *
 *   strata_ckpt* h = NULL;
 *   if (strata_init(&h, MPI_COMM_WORLD, NULL, "ckpt") != STRATA_OK) { puts(strata_last_error(NULL)); ... }
 *   strata_protect(h, "u", u, STRATA_DOUBLE, n);
 *   strata_protect(h, "step", &step, STRATA_INT64, 1);
 *   uint64_t v;
 *   if (strata_restore_latest(h, &v) == STRATA_OK) printf("resumed from version %llu\n", ...);
 *   while (step < steps) { advance(u); ++step; strata_step(h, (uint64_t)step, NULL); }
 *   strata_finalize(&h);    before MPI_Finalize
 *
 * Every call returns STRATA_OK or an error code; no C++ exception crosses this interface. The text of
 * the error (naming the call, the rank and the buffer) is strata_last_error(h). Calls marked
 * "collective" must be made by every rank of the handle's communicator, in the same order. */
#ifndef STRATA_C_STRATA_H
#define STRATA_C_STRATA_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Return codes. */
enum {
  STRATA_OK = 0,          /**< success */
  STRATA_ENONE = 1,       /**< no checkpoint (restore_latest, current_version): not a failure */
  STRATA_EUSAGE = 2,      /**< misuse: bad argument, NULL handle, duplicate name, bad configuration */
  STRATA_ECHECKPOINT = 3, /**< a checkpoint could not be written; the previous version is intact */
  STRATA_ERESTORE = 4,    /**< no usable checkpoint could be restored, or the restore was refused */
  STRATA_ECOMM = 5,       /**< an MPI call failed */
  STRATA_ENOMEM = 6,      /**< out of memory */
  STRATA_EFAIL = 7        /**< any other failure */
};
/** Older spelling of STRATA_ENONE. */
#define STRATA_ENOTFOUND STRATA_ENONE

/** Element types of a protected buffer. */
enum {
  STRATA_INT32 = 1,  /**< int32_t */
  STRATA_INT64 = 2,  /**< int64_t */
  STRATA_FLOAT = 3,  /**< float */
  STRATA_DOUBLE = 4, /**< double */
  STRATA_BYTES = 5   /**< unsigned char (opaque bytes) */
};

/** A checkpointer: opaque; create with strata_init, destroy with strata_finalize. */
typedef struct strata_ckpt strata_ckpt;

/** Gives memory for `count` elements of `elem_size` bytes holding the first elements of `old_data`
 * (realloc's contract); NULL when it cannot (then the restore fails with STRATA_ERESTORE). */
typedef void* (*strata_resize_fn)(void* old_data, int64_t count, size_t elem_size, void* user);

/** Collective: a checkpointer over `comm` (duplicated) writing to `directory`. Settings, later ones
 * winning: strata's defaults, `directory` (NULL: the default, "strata_checkpoints"), the TOML file
 * `config_file` (NULL: none), the file named by STRATA_CONFIG, the STRATA_* variables. `*out` must
 * be NULL on entry (a non-NULL one is refused: initialised already); it is set on success only. */
int strata_init(strata_ckpt** out, MPI_Comm comm, const char* config_file, const char* directory);

/** strata_init with a Fortran communicator handle (MPI_Fint): what the Fortran module calls. */
int strata_init_f(strata_ckpt** out, MPI_Fint comm, const char* config_file, const char* directory);

/** Collective: drains pending work, frees the handle and sets `*h` to NULL (before MPI_Finalize).
 * A NULL `*h` (finalised already, or never initialised) returns STRATA_EUSAGE and does nothing. */
int strata_finalize(strata_ckpt** h);

/** Protects `count` elements of `type` at `data` under `name`, a fixed-size buffer: a restore
 * refuses a version that saved another count. `data` must stay valid until strata_finalize. */
int strata_protect(strata_ckpt* h, const char* name, void* data, int type, int64_t count);

/** Protects a buffer whose size may change: every checkpoint saves `*count` elements at `*data`
 * (read then, so the program may reallocate between steps); a restore that finds another count
 * calls `resize(*data, saved, elem_size, user)` before writing, then sets `*data` and `*count`.
 * `resize` NULL: realloc (then `*data` must come from malloc, or be NULL). */
int strata_protect_resizable(strata_ckpt* h, const char* name, void** data, int64_t* count, int type,
                             strata_resize_fn resize, void* user);

/** Collective: checkpoints now; `*version` (may be NULL) receives the version. */
int strata_checkpoint(strata_ckpt* h, uint64_t* version);

/** Step `step` is complete: checkpoints if the trigger says so, or if a pre-emption signal
 * (SIGTERM, SIGUSR1) reached any rank. `*checkpointed` (may be NULL): 1 if a checkpoint was taken.
 * Collective when the trigger needs agreement (treat it as collective). */
int strata_step(strata_ckpt* h, uint64_t step, int* checkpointed);

/** `*stop` = 1 when a pre-emption signal was caught and its checkpoint committed: end the run. */
int strata_stop_requested(const strata_ckpt* h, int* stop);

/** Collective: restores the newest complete version: STRATA_OK with `*version` (may be NULL), or
 * STRATA_ENONE when the directory holds none (buffers untouched). */
int strata_restore_latest(strata_ckpt* h, uint64_t* version);

/** Collective: restores exactly `version` (rolling back). */
int strata_restore(strata_ckpt* h, uint64_t version);

/** Collective: waits for background checkpoints (async configurations) to be committed. */
int strata_wait(strata_ckpt* h);

/** The version restored or last committed by `h`: STRATA_OK, or STRATA_ENONE when there is none. */
int strata_current_version(const strata_ckpt* h, uint64_t* version);

/** The step of the last checkpoint taken or restored (0 before any). */
int strata_last_step(const strata_ckpt* h, uint64_t* step);

/** The text of the last failed call on `h` ("" if none). With `h` NULL: the last failed call of
 * this thread on any handle or none (strata_init, calls on a NULL handle). Valid until the next
 * failing call. Never NULL. */
const char* strata_last_error(const strata_ckpt* h);

/** The name of a return code ("STRATA_EUSAGE", ...). */
const char* strata_code_name(int code);

#ifdef __cplusplus
}
#endif

#endif
