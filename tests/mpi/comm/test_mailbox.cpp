#include <catch2/catch.hpp>
#include <strata/comm/mailbox.hpp>
#include <strata/comm/mpi.hpp>

#include <chrono>
#include <map>
#include <thread>
#include <vector>

using namespace strata;

namespace {
std::vector<std::byte> payload(int from, int to, int i, std::size_t n) {
  std::vector<std::byte> b(n);
  for (std::size_t k = 0; k < n; ++k) b[k] = static_cast<std::byte>((from * 31 + to * 7 + i * 13 + static_cast<int>(k)) & 0xff);
  return b;
}
}  // namespace

TEST_CASE("mailbox: drain delivers every message posted before it, intact and in order per sender", "[mpi][comm][mailbox]") {
  comm::mpi c{MPI_COMM_WORLD};
  comm::mailbox box{c};
  int const me = c.rank(), n = c.size();
  // Every rank sends every rank (itself included) three messages of different sizes, one empty.
  std::size_t const sizes[] = {0, 17, std::size_t{3} << 20};
  for (int to = 0; to < n; ++to)
    for (int i = 0; i < 3; ++i) box.post(to, 5 + i, payload(me, to, i, sizes[i]));
  std::map<int, std::vector<comm::letter>> got;
  box.poll([&](comm::letter&& l) { got[l.from].push_back(std::move(l)); });  // some may be here already
  box.drain([&](comm::letter&& l) { got[l.from].push_back(std::move(l)); });
  REQUIRE(got.size() == static_cast<std::size_t>(n));
  for (auto const& [from, letters] : got) {
    REQUIRE(letters.size() == 3);
    for (int i = 0; i < 3; ++i) {
      CHECK(letters[static_cast<std::size_t>(i)].tag == 5 + i);
      CHECK(letters[static_cast<std::size_t>(i)].bytes == payload(from, me, i, sizes[i]));
    }
  }
  CHECK(box.sends_in_flight() == 0);
  // Nothing left over: a second drain delivers nothing.
  std::size_t more = 0;
  box.drain([&](comm::letter&&) { ++more; });
  CHECK(more == 0);
}

TEST_CASE("mailbox: posting and polling never wait for a rank that makes no MPI call", "[mpi][comm][mailbox]") {
  comm::mpi c{MPI_COMM_WORLD};
  if (c.size() < 2) return;
  comm::mailbox box{c};
  using clock = std::chrono::steady_clock;
  int const me = c.rank();
  c.barrier();
  if (me == 1) {
    std::this_thread::sleep_for(std::chrono::seconds(3));  // busy elsewhere: no MPI call at all
  } else if (me == 0) {
    auto const t0 = clock::now();
    box.post(1, 1, payload(0, 1, 0, std::size_t{8} << 20));  // far above any eager limit
    for (int i = 0; i < 100; ++i) box.poll([](comm::letter&&) {});
    double const s = std::chrono::duration<double>(clock::now() - t0).count();
    // Had post or poll waited for rank 1, they would have taken its whole 3 s sleep.
    CHECK(s < 1.5);
    CHECK(box.sends_in_flight() == 1);  // the large send completes only once rank 1 takes it
  }
  std::size_t got = 0;
  std::vector<std::byte> bytes;
  box.drain([&](comm::letter&& l) {
    ++got;
    bytes = std::move(l.bytes);
  });
  if (me == 1) {
    CHECK(got == 1);
    CHECK(bytes == payload(0, 1, 0, std::size_t{8} << 20));
  } else {
    CHECK(got == 0);
  }
}

TEST_CASE("mailbox: bad destination or tag is refused", "[mpi][comm][mailbox]") {
  comm::mpi c{MPI_COMM_WORLD};
  comm::mailbox box{c};
  CHECK_THROWS_AS(box.post(c.size(), 1, {}), usage_error);
  CHECK_THROWS_AS(box.post(0, comm::mailbox::max_tag, {}), usage_error);
  box.drain([](comm::letter&&) {});
}
