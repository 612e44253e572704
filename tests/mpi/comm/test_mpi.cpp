#include <catch2/catch.hpp>
#include <strata/comm/agree.hpp>
#include <strata/comm/mpi.hpp>

using namespace strata;

TEST_CASE("comm::mpi ownership is explicit: duplicate owns a private communicator, attach does not", "[mpi][comm]") {
  auto attached = comm::mpi::attach(MPI_COMM_WORLD);
  CHECK(attached.native() == MPI_COMM_WORLD);
  CHECK_FALSE(attached.owns());
  comm::mpi dup{MPI_COMM_WORLD};
  CHECK(dup.owns());
  CHECK(dup.native() != MPI_COMM_WORLD);
  int cmp = 0;
  MPI_Comm_compare(dup.native(), MPI_COMM_WORLD, &cmp);
  CHECK(cmp == MPI_CONGRUENT);
  CHECK(dup.rank() == attached.rank());
  CHECK(dup.size() == attached.size());
  auto copy = dup;  // copies share the communicator
  CHECK(copy == dup);

  // A message on the duplicate never matches a receive on the application's communicator.
  if (dup.size() > 1) {
    if (dup.rank() == 0) {
      std::vector<std::byte> hello{std::byte{42}};
      dup.send(hello, 1, 7);
    }
    if (dup.rank() == 1) {
      int flag = 1;
      for (int i = 0; i < 50 && flag; ++i) MPI_Iprobe(0, 7, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
      std::vector<std::byte> got;
      auto info = dup.recv(got, 0, 7);
      CHECK(info.source == 0);
      CHECK(got == std::vector<std::byte>{std::byte{42}});
    }
  }
  dup.barrier();
}

TEST_CASE("collectives and agree across ranks", "[mpi][comm]") {
  comm::mpi c{MPI_COMM_WORLD};
  auto const n = static_cast<std::uint64_t>(c.size());
  CHECK(c.all_reduce(std::uint64_t{1}, comm::reduce_op::sum) == n);
  CHECK(c.all_reduce(static_cast<std::uint64_t>(c.rank()), comm::reduce_op::max) == n - 1);
  CHECK(c.all_gather(static_cast<std::uint64_t>(c.rank() * 10)).back() == (n - 1) * 10);
  std::uint64_t v = c.rank() == 0 ? 99 : 0;
  c.broadcast(std::as_writable_bytes(std::span(&v, 1)), 0);
  CHECK(v == 99);
  // the last rank votes "failed": everyone learns its rank and reason
  int const last = c.size() - 1;
  auto a = comm::agree(c, c.rank() == last ? 1 : 0, c.rank() == last ? "disk on fire" : "");
  CHECK(a.code == 1);
  CHECK(a.rank == last);
  CHECK(a.reason == "disk on fire");
  CHECK(static_cast<bool>(comm::agree(c, 0, "")));
  auto node = c.split_shared();
  CHECK(node.size() >= 1);
  CHECK(node.size() <= c.size());
}
