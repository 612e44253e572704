#include <catch2/catch.hpp>
#include <strata/comm/mailbox.hpp>
#include <strata/comm/mpi.hpp>

#include <chrono>
#include <map>
#include <optional>
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

TEST_CASE("mailbox: one destroyed with large sends in flight keeps their buffers; the payloads arrive intact",
          "[mpi][comm][mailbox]") {
  comm::mpi c{MPI_COMM_WORLD};
  if (c.size() < 2) return;
  int const me = c.rank();
  std::size_t const n = std::size_t{8} << 20;  // far above any eager limit: each send waits for its receiver
  auto& retained = comm::detail::retained_sends::instance();
  std::size_t const before = retained.size();  // what other tests left, if any
  std::optional<comm::mailbox> box{std::in_place, c};  // collective: every rank's on one duplicate
  if (me == 0) {
    for (int to = 1; to < c.size(); ++to) box->post(to, 3, payload(0, to, 0, n));
    CHECK(box->sends_in_flight() == static_cast<std::size_t>(c.size() - 1));  // no rank has received yet
    box.reset();  // no drain: the sends are still in flight
    CHECK(retained.size() == before + static_cast<std::size_t>(c.size() - 1));
    // Had their buffers been freed, this might take their memory: the receivers would read it.
    std::vector<std::vector<std::byte>> junk;
    for (int i = 1; i < c.size(); ++i) junk.emplace_back(n + 8, std::byte{0xee});
  }
  c.barrier();  // rank 0's mailbox is gone before any rank starts receiving
  if (me != 0) {
    std::vector<comm::letter> got;
    for (int i = 0; got.empty() && i < 60000; ++i)
      if (box->poll([&](comm::letter&& l) { got.push_back(std::move(l)); }) == 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    REQUIRE(got.size() == 1);
    CHECK(got[0].from == 0);
    CHECK(got[0].tag == 3);
    CHECK(got[0].bytes == payload(0, me, 0, n));
  }
  c.barrier();  // every payload received: the sends complete, and their buffers are freed
  if (me == 0) {
    for (int i = 0; retained.size() > before && i < 10000; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    CHECK(retained.size() == before);
  }
}

TEST_CASE("mailbox: ones destroyed mid-transfer, both ways, leave no receive writing into freed memory",
          "[mpi][comm][mailbox]") {
  comm::mpi c{MPI_COMM_WORLD};
  int const me = c.rank(), n = c.size();
  std::size_t const big = std::size_t{8} << 20;
  {
    comm::mailbox box{c};
    for (int to = 0; to < n; ++to) box.post(to, 1, payload(me, to, 1, big));
    c.barrier();  // every envelope has been sent: the polls below match some receives, unfinished
    for (int i = 0; i < 3; ++i) box.poll([](comm::letter&&) {});
  }  // destroyed: matched receives waited for, sends retained
  // A new mailbox sees none of the old one's messages, and works.
  comm::mailbox box{c};
  for (int to = 0; to < n; ++to) box.post(to, 2, payload(me, to, 2, 1000));
  std::map<int, std::vector<comm::letter>> got;
  box.drain([&](comm::letter&& l) { got[l.from].push_back(std::move(l)); });
  REQUIRE(got.size() == static_cast<std::size_t>(n));
  for (auto const& [from, letters] : got) {
    REQUIRE(letters.size() == 1);
    CHECK(letters[0].tag == 2);
    CHECK(letters[0].bytes == payload(from, me, 2, 1000));
  }
}

TEST_CASE("mailbox: bad destination or tag is refused", "[mpi][comm][mailbox]") {
  comm::mpi c{MPI_COMM_WORLD};
  comm::mailbox box{c};
  CHECK_THROWS_AS(box.post(c.size(), 1, {}), usage_error);
  CHECK_THROWS_AS(box.post(0, comm::mailbox::max_tag, {}), usage_error);
  box.drain([](comm::letter&&) {});
}
