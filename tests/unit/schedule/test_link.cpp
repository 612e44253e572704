// The request stream to one worker (SPEC R10c, issue 10 item 6): held while the worker is suspected,
// resent in issue order, numbered without gaps; applied by the worker in sequence order, repeats dropped.
#include <catch2/catch.hpp>
#include <strata/schedule/detail/link.hpp>
#include <strata/schedule/detail/protocol.hpp>

#include <chrono>
#include <vector>

using namespace strata::schedule;
using detail::in_order_inbox;
using detail::request;
using detail::worker_link;

namespace {
request req(int tag, std::uint8_t marker) { return {tag, {std::byte{marker}}}; }
std::vector<std::uint64_t> seqs(std::vector<worker_link::outgoing> const& v) {
  std::vector<std::uint64_t> out;
  for (auto const& o : v) out.push_back(o.seq);
  return out;
}
}  // namespace

TEST_CASE("worker_link sends at once while healthy, holds while suspected, resends in issue order") {
  worker_link l;
  CHECK(seqs(l.issue(req(1, 10))) == std::vector<std::uint64_t>{1});
  CHECK(l.suspect());
  CHECK_FALSE(l.suspect());  // already
  CHECK(l.issue(req(1, 11)).empty());
  CHECK(l.issue(req(1, 12)).empty());
  CHECK(l.issue(req(2, 13)).empty());
  CHECK(l.held() == 3);
  auto const out = l.resume();
  REQUIRE(seqs(out) == std::vector<std::uint64_t>{2, 3, 4});
  CHECK(out[0].req.body[0] == std::byte{11});
  CHECK(out[2].req.tag == 2);
  CHECK_FALSE(l.suspected());
  CHECK(seqs(l.issue(req(1, 14))) == std::vector<std::uint64_t>{5});
}

TEST_CASE("worker_link: held requests dropped for taken-back tasks leave no gap in the numbers") {
  worker_link l;
  (void)l.issue(req(1, 1));
  l.suspect();
  (void)l.issue(req(detail::tag_assign, 2));
  (void)l.issue(req(detail::tag_shutdown, 3));
  (void)l.issue(req(detail::tag_assign, 4));
  CHECK(l.drop_held(detail::tag_assign) == 2);
  auto const out = l.resume();
  REQUIRE(seqs(out) == std::vector<std::uint64_t>{2});  // the shutdown, right after what was sent
  CHECK(out[0].req.tag == detail::tag_shutdown);
}

TEST_CASE("worker_link: lost after the grace, silent or stuck; never with a grace of zero") {
  using namespace std::chrono_literals;
  auto const t0 = clock::now();
  worker_link l;
  CHECK_FALSE(l.lost(t0 + 1h, t0, 1s));  // healthy: never lost
  l.suspect();
  CHECK_FALSE(l.lost(t0 + 500ms, t0, 1s));
  CHECK(l.lost(t0 + 1500ms, t0, 1s));
  CHECK_FALSE(l.lost(t0 + 1h, t0, clock::duration::zero()));
  (void)l.resume();
  l.mark_stuck(t0);
  CHECK(l.stuck());
  CHECK_FALSE(l.lost(t0 + 500ms, t0 + 400ms, 1s));
  CHECK(l.lost(t0 + 1500ms, t0 + 1400ms, 1s));  // heartbeats go on, but it is stuck
  CHECK(l.clear_stuck());
  CHECK_FALSE(l.clear_stuck());
  CHECK_FALSE(l.lost(t0 + 1h, t0 + 1h, 1s));
}

TEST_CASE("in_order_inbox applies in sequence order, keeps early ones, drops repeats") {
  in_order_inbox<int> in;
  auto ids = [](auto const& v) {
    std::vector<std::uint64_t> out;
    for (auto const& [s, m] : v) out.push_back(s);
    return out;
  };
  CHECK(ids(in.accept(1, 100)) == std::vector<std::uint64_t>{1});
  CHECK(in.accept(3, 300).empty());  // early: waits for 2
  CHECK(in.waiting() == 1);
  CHECK(in.accept(3, 300).empty());  // repeat of a waiting one
  CHECK(in.accept(1, 100).empty());  // repeat of an applied one
  CHECK(in.repeats() == 2);
  auto const ready = in.accept(2, 200);
  REQUIRE(ids(ready) == std::vector<std::uint64_t>{2, 3});
  CHECK(ready[1].second == 300);
  CHECK(in.next_expected() == 4);
  CHECK(in.accept(0, 0).empty());  // never sent: numbers start at 1
}

TEST_CASE("requests carry their sequence number on the wire") {
  std::vector<std::byte> const payload{std::byte{1}, std::byte{2}};
  auto const wire = detail::frame(7, detail::assign_body(42, 3, payload));
  auto const a = detail::decode_assign(wire);
  CHECK(a.seq == 7);
  CHECK(a.id == 42);
  CHECK(a.attempt == 3);
  CHECK(a.payload == payload);
  CHECK(detail::encode(a) == wire);
  CHECK(detail::decode_request_seq(detail::frame(9, {})) == 9);
  CHECK_THROWS_AS(detail::decode_request_seq(wire), strata::error);
}
