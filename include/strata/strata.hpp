#pragma once
/// \file
/// \brief Umbrella header: everything strata offers. A program that only checkpoints includes
/// `<strata/checkpoint.hpp>` instead (much faster to compile: docs/compile-time.md); the area
/// headers (`strata/schedule/dispatcher.hpp`, ...) bring one part each.

#include <strata/config.hpp>
#include <strata/error.hpp>
#include <strata/version.hpp>
#include <strata/checkpoint.hpp>

// communicators
#include <strata/comm/agree.hpp>
#include <strata/comm/mpi.hpp>
#include <strata/comm/solo.hpp>

// checkpointing: state, the three snapshot layers, consistency, the checkpointer
#include <strata/state/registry.hpp>
#include <strata/state/serializer.hpp>
#include <strata/state/layout.hpp>
#include <strata/snapshot/full.hpp>
#include <strata/snapshot/incremental.hpp>
#include <strata/snapshot/compressed.hpp>
#include <strata/storage/posix_dir.hpp>
#include <strata/storage/partner_memory.hpp>
#include <strata/storage/mpiio_file.hpp>
#include <strata/storage/multilevel.hpp>
#include <strata/consistency/coordinated.hpp>
#include <strata/trigger/every_n.hpp>
#include <strata/trigger/never.hpp>
#include <strata/trigger/every_seconds.hpp>
#include <strata/trigger/young_daly.hpp>
#include <strata/trigger/adaptive.hpp>
#include <strata/checkpoint/checkpointer.hpp>
#include <strata/checkpoint/manifest.hpp>
#include <strata/checkpoint/retention.hpp>
#include <strata/replay/wal.hpp>

// scheduling and load balancing
#include <strata/schedule/task.hpp>
#include <strata/schedule/priority.hpp>
#include <strata/schedule/selection.hpp>
#include <strata/schedule/health.hpp>
#include <strata/schedule/backoff.hpp>
#include <strata/schedule/dispatcher.hpp>
#include <strata/balance/balancer.hpp>
#include <strata/dag/executor.hpp>
#include <strata/dag/placement.hpp>
#include <strata/dag/resume.hpp>
#include <strata/dag/task_flow.hpp>
#include <strata/elastic/policy.hpp>
#include <strata/elastic/relaunch.hpp>
#include <strata/elastic/topology.hpp>

// observability
#include <strata/metrics/prometheus.hpp>
#include <strata/metrics/progress.hpp>
