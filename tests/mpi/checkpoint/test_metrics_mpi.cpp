// The checkpointer's metrics over MPI (registered at n = 1, 2, 4): per-rank figures, the
// `strata_ckpt_job_*` ones reduced over the ranks, and the file rank 0 writes.
#include <catch2/catch.hpp>
#include <strata/strata.hpp>
#include <support/files.hpp>

#include <fstream>
#include <sstream>

using namespace strata;
namespace fs = std::filesystem;

namespace {
double sample(std::string const& text, std::string const& name) {
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    if (line.starts_with(name + " ")) return std::stod(line.substr(name.size() + 1));
  FAIL("no sample " << name);
  return 0;
}
}  // namespace

TEST_CASE("mpi metrics: job figures are reduced over the ranks, rank 0 writes the file", "[mpi][checkpoint][metrics]") {
  comm::mpi world{MPI_COMM_WORLD};
  test::scratch_dir dir{world, "metrics_mpi"};
  auto const file = dir.path() / "strata.prom";
  std::vector<double> field(static_cast<std::size_t>(1000 * (world.rank() + 1)), 1.0);
  std::uint64_t bytes = 0, all = 0;
  double stall = 0;
  {
    checkpointer<> ck{world, {.directory = dir.path() / "ck", .log = nullptr, .metrics_file = file}};
    ck.protect("field", field);
    ck.checkpoint();
    ck.checkpoint();
    bytes = ck.last_stats().bytes;
    stall = ck.last_stats().total_seconds;
    auto const text = ck.metrics().prometheus_text();
    CHECK(sample(text, "strata_ckpt_bytes_written_total") == 2.0 * static_cast<double>(bytes));
    all = world.all_reduce(bytes, comm::reduce_op::sum);
    CHECK(sample(text, "strata_ckpt_job_bytes_written_total") == 2.0 * static_cast<double>(all));
    auto const longest = world.all_reduce(stall, comm::reduce_op::max);
    CHECK(sample(text, "strata_ckpt_job_stall_seconds_max") == Approx(longest));

    field.assign(field.size(), 0.0);
    REQUIRE(ck.restore_latest() == 2u);
    auto const after = ck.metrics().prometheus_text();
    auto const read = ck.last_stats().read_bytes;
    CHECK(sample(after, "strata_ckpt_restore_read_bytes_total") == static_cast<double>(read));
    CHECK(sample(after, "strata_ckpt_job_restore_read_bytes_total") ==
          static_cast<double>(world.all_reduce(read, comm::reduce_op::sum)));
  }
  world.barrier();
  if (world.rank() == 0) {
    std::ifstream f{file};
    std::stringstream s;
    s << f.rdbuf();
    CHECK(sample(s.str(), "strata_ckpt_committed_total") == 2);
    CHECK(sample(s.str(), "strata_ckpt_job_bytes_written_total") == 2.0 * static_cast<double>(all));
    CHECK(sample(s.str(), "strata_ckpt_bytes_written_total") == 2.0 * static_cast<double>(bytes));  // rank 0's own
  }
  CHECK_FALSE(fs::exists(file.string() + ".tmp"));
}
