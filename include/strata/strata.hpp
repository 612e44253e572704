#pragma once
/// \file
/// \brief Umbrella header: everything strata offers.

#include <strata/version.hpp>
#include <strata/error.hpp>

#include <strata/comm/agree.hpp>
#include <strata/comm/mpi.hpp>
#include <strata/comm/solo.hpp>

#include <strata/state/registry.hpp>
#include <strata/state/serializer.hpp>

#include <strata/snapshot/full.hpp>
#include <strata/storage/posix_dir.hpp>
#include <strata/consistency/coordinated.hpp>
#include <strata/trigger/every_n.hpp>
#include <strata/trigger/every_seconds.hpp>

#include <strata/checkpoint/checkpointer.hpp>
#include <strata/checkpoint/manifest.hpp>
#include <strata/checkpoint/retention.hpp>
