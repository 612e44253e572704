// Full and compressed snapshots estimate how much of the state changed between two encodes, from a
// sample of blocks, for the adaptive trigger (issue 10 item 7, SPEC R7); snapshot::any forwards it.
#include <catch2/catch.hpp>
#include <strata/snapshot/any.hpp>
#include <strata/snapshot/compressed.hpp>
#include <strata/snapshot/full.hpp>

#include <chrono>
#include <cstring>
#include <iostream>
#include <random>

using namespace strata;

namespace {
snapshot::shard_id sid(std::uint64_t v) { return {v, 0, 1}; }

template <class S>
double rate(S const& s) {
  REQUIRE(snapshot::measures_change(s));
  REQUIRE(s.last_protected_bytes() > 0);
  return static_cast<double>(s.last_dirty_bytes()) / static_cast<double>(s.last_protected_bytes());
}

/// 1024 blocks of 1 KiB (1 MiB); `change(fraction)` changes that fraction of the blocks, drawn at random.
struct field_state {
  static constexpr std::size_t blocks = 1024, per_block = 128;
  std::vector<double> u = std::vector<double>(blocks * per_block, 1.0);
  std::mt19937_64 rng{42};
  double tick = 1;  // the value last written (the initial one)
  void change(double fraction) {
    tick += 1;
    for (std::size_t b = 0; b < blocks; ++b)
      if (std::uniform_real_distribution<double>(0, 1)(rng) < fraction) u[b * per_block + rng() % per_block] = tick;
  }
  void change_every(std::size_t k) {  // a periodic pattern: blocks 0, k, 2k, ...
    tick += 1;
    for (std::size_t b = 0; b < blocks; b += k) u[b * per_block] = tick;
  }
};
}  // namespace

TEMPLATE_TEST_CASE("full and compressed: the sampled change rate follows the data", "[snapshot][change]", snapshot::full,
                   snapshot::compressed<snapshot::full>, snapshot::any) {
  field_state s;
  state::registry reg;
  reg.protect("u", s.u);
  TestType snap = [] {
    if constexpr (std::same_as<TestType, snapshot::any>) return snapshot::any{snapshot::full{.block_bytes = 1024}};
    else if constexpr (std::same_as<TestType, snapshot::full>) return snapshot::full{.block_bytes = 1024};
    else return TestType{.inner = {.block_bytes = 1024}};
  }();
  (void)snap.encode(reg, sid(1));
  CHECK(rate(snap) == 1.0);  // nothing to compare with: all of it is new
  std::uint64_t v = 2;
  for (int round = 0; round < 4; ++round) {
    (void)snap.encode(reg, sid(v++));
    CHECK(rate(snap) == 0.0);  // nothing changed
    s.change(1.0);
    (void)snap.encode(reg, sid(v++));
    CHECK(rate(snap) == 1.0);  // everything changed
  }
  // In between: 32 sampled blocks (the default, one in 32) give a standard error of up to 0.09.
  for (double f : {0.05, 0.25, 0.5}) {
    double sum = 0;
    for (int round = 0; round < 4; ++round) {
      s.change(f);
      (void)snap.encode(reg, sid(v++));
      sum += rate(snap);
    }
    INFO("fraction " << f);
    CHECK(sum / 4 == Approx(f).margin(0.1));
  }
}

TEST_CASE("full: a denser sample, a closer estimate", "[snapshot][change]") {
  field_state s;
  state::registry reg;
  reg.protect("u", s.u);
  snapshot::full snap{.block_bytes = 1024, .sample_every = 8};  // 128 of 1024 blocks
  (void)snap.encode(reg, sid(1));
  std::uint64_t v = 2;
  for (double f : {0.0, 0.05, 0.25, 0.5, 0.75, 1.0}) {
    s.change(f);
    (void)snap.encode(reg, sid(v++));
    INFO("fraction " << f);
    CHECK(rate(snap) == Approx(f).margin(0.12));  // a standard error of up to 0.045
  }
}

TEST_CASE("full: the sample is drawn anew at each encode, so a periodic change cannot hide from it", "[snapshot][change]") {
  field_state s;
  state::registry reg;
  reg.protect("u", s.u);
  snapshot::full snap{.block_bytes = 1024};  // 1024 blocks, one sampled in each run of 32
  (void)snap.encode(reg, sid(1));
  double sum = 0;
  int const rounds = 20;
  for (int i = 0; i < rounds; ++i) {
    s.change_every(4);  // a quarter of the blocks, with a period that divides the run length
    (void)snap.encode(reg, sid(2 + static_cast<std::uint64_t>(i)));
    sum += rate(snap);
  }
  CHECK(sum / rounds == Approx(0.25).margin(0.06));
}

TEST_CASE("full: replicated regions are compared block by block (their hashes are made anyway)", "[snapshot][change]") {
  std::vector<double> rep(128 * 64, 0.0);  // 64 blocks of 1 KiB
  state::registry reg;
  reg.protect("rep", rep, strata::replicated{});
  snapshot::full snap{.block_bytes = 1024};
  (void)snap.encode(reg, sid(1));
  for (std::size_t b : {0u, 7u, 63u}) rep[b * 128] = 1;
  (void)snap.encode(reg, sid(2));
  CHECK(snap.last_dirty_bytes() == 3 * 1024);
  CHECK(snap.last_protected_bytes() == rep.size() * sizeof(double));
}

TEST_CASE("full: sample_every = 0 measures nothing; the estimate is not part of the value", "[snapshot][change]") {
  std::vector<double> u(4096, 1.0);
  state::registry reg;
  reg.protect("u", u);
  snapshot::full off{.sample_every = 0};
  (void)off.encode(reg, sid(1));
  CHECK_FALSE(snapshot::measures_change(off));
  CHECK_FALSE(snapshot::measures_change(snapshot::compressed<snapshot::full>{.inner = {.sample_every = 0}}));
  CHECK_FALSE(snapshot::any{off}.measures_change());
  snapshot::full on{};
  CHECK(snapshot::measures_change(on));
  CHECK(snapshot::any{on}.measures_change());
  auto const before = on;
  (void)on.encode(reg, sid(1));
  CHECK(on == before);
  CHECK(off != on);
}

TEST_CASE("full: what sampling costs an encode of 64 MiB", "[.][bench][change]") {
  std::vector<double> u(std::size_t{8} << 20, 1.0);  // 64 MiB, 1024 blocks of 64 KiB
  state::registry reg;
  reg.protect("u", u);
  using clk = std::chrono::steady_clock;
  auto time = [&](auto&& f) {
    double best = 1e9;
    for (int i = 0; i < 15; ++i) {
      u[static_cast<std::size_t>(i) * 4096] += 1;
      auto const t0 = clk::now();
      f();
      best = std::min(best, std::chrono::duration<double>(clk::now() - t0).count());
    }
    return best;
  };
  snapshot::full off{.sample_every = 0}, on{};
  std::uint64_t v = 1;
  std::size_t sink = 0;
  double const t_off = time([&] { sink += off.encode(reg, sid(v++)).segments.size(); });
  double const t_on = time([&] { sink += on.encode(reg, sid(v++)).segments.size(); });
  std::vector<double> copy(u.size());
  double const t_copy = time([&] { std::memcpy(copy.data(), u.data(), u.size() * sizeof(double)); });
  double const t_hash = time([&] {
    sink += snapshot::hash_host_blocks(std::as_bytes(std::span(u)), 64 * 1024, snapshot::lane_hash{}).size();
  });
  std::cout << "64 MiB full encode: no sampling " << t_off * 1e3 << " ms, sampling " << t_on * 1e3 << " ms (+"
            << (t_on - t_off) * 1e3 << " ms); memcpy of the state " << t_copy * 1e3 << " ms; hashing every block "
            << t_hash * 1e3 << " ms; sampling / memcpy " << (t_on - t_off) / t_copy << ", sampling / hashing all "
            << (t_on - t_off) / t_hash << " (" << sink << ")\n";
  CHECK(t_on - t_off < t_hash / 4);
}
