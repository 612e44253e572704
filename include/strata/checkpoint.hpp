#pragma once
/// \file
/// \brief Checkpointing only: `strata::checkpointer<>` with its default policies (full snapshots,
/// a POSIX directory, coordinated commit, `every_n`, `keep_last`), the communicators and the
/// errors. No scheduler, DAG, JSON parser, zstd or Thrust comes with it; include the header of
/// another policy where you use it (`strata/snapshot/incremental.hpp`,
/// `strata/storage/multilevel.hpp`, `strata/trigger/every_seconds.hpp`, ...).
///
/// Built with STRATA_SEPARATE_COMPILATION (CMake: link `strata::separate`), a file that includes
/// this header parses the checkpointer's declarations only; the definitions are compiled once.
/// docs/compile-time.md has the figures.

#include <strata/checkpoint/checkpointer.hpp>
#include <strata/comm/mpi.hpp>
#include <strata/comm/solo.hpp>
#include <strata/error.hpp>
#include <strata/version.hpp>
