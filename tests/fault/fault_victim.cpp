// A small MPI program for fault tests: restores the newest version, checks the
// restored state is exactly what that version saved, then checkpoints up to
// --versions. Crashes come from STRATA_FAULT (see strata/detail/fault.hpp; the points are named
// in each layer's fault_points.hpp).
#include <strata/strata.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <thrust/device_vector.h>
#include <thrust/fill.h>

int main(int argc, char** argv) {
  strata::comm::mpi_environment env{argc, argv};
  strata::comm::mpi world{MPI_COMM_WORLD};
  CLI::App app{"fault_victim"};
  std::string dir;
  std::uint64_t versions = 4;
  double mib = 0.25;
  bool no_space_check = false;
  app.add_option("--dir", dir)->required();
  app.add_option("--versions", versions);
  app.add_option("--mib", mib, "protected MiB per rank");
  app.add_flag("--no-space-check", no_space_check, "skip the free-space pre-check (to hit ENOSPC while writing)");
  CLI11_PARSE(app, argc, argv);

  int const rank = world.rank();
  auto const n = static_cast<std::size_t>(mib * (1 << 20) / sizeof(double));
  std::vector<double> field(n);
  thrust::device_vector<float> dev(1024);
  std::uint64_t version_tag = 0;
  auto fill = [&](std::uint64_t tag) {
    version_tag = tag;
    for (std::size_t i = 0; i < n; ++i) field[i] = static_cast<double>(tag * 7919 + i + static_cast<std::size_t>(rank));
    thrust::fill(dev.begin(), dev.end(), static_cast<float>(tag + static_cast<std::uint64_t>(rank)));
  };
  auto matches = [&](std::uint64_t tag) {
    for (std::size_t i = 0; i < n; ++i)
      if (field[i] != static_cast<double>(tag * 7919 + i + static_cast<std::size_t>(rank))) return false;
    return dev[0] == static_cast<float>(tag + static_cast<std::uint64_t>(rank)) &&
           dev[1023] == static_cast<float>(tag + static_cast<std::uint64_t>(rank));
  };

  strata::checkpointer<> ckpt{world, {.directory = dir, .check_free_space = !no_space_check}};
  ckpt.protect("field", field);
  ckpt.protect("dev", dev);
  ckpt.protect("tag", version_tag);
  std::uint64_t tag = 0;
  if (auto v = ckpt.restore_latest()) {
    if (!matches(version_tag)) {
      std::fprintf(stderr, "rank %d: restored version %llu holds inconsistent data\n", rank,
                   static_cast<unsigned long long>(*v));
      return 4;
    }
    if (rank == 0)
      std::printf("restored version %llu (tag %llu)\n", static_cast<unsigned long long>(*v),
                  static_cast<unsigned long long>(version_tag));
    tag = version_tag;
  } else if (rank == 0) {
    std::printf("fresh start\n");
  }
  std::fflush(stdout);
  // The tag counts the checkpoints of this history; version numbers may skip an aborted attempt.
  while (++tag <= versions) {
    fill(tag);
    try {
      auto const v = ckpt.checkpoint();
      if (rank == 0)
        std::printf("committed version %llu (tag %llu)\n", static_cast<unsigned long long>(v),
                    static_cast<unsigned long long>(tag));
    } catch (strata::checkpoint_error const& e) {
      std::printf("rank %d: checkpoint failed: %s\n", rank, e.what());
      return 3;
    }
    std::fflush(stdout);
  }
  return 0;
}
