#include <catch2/catch.hpp>
#include <strata/storage/detail/erasure.hpp>

#include <bit>
#include <random>
#include <vector>

using strata::storage::detail::erasure_code;
using strata::storage::detail::have_isal;
using family = erasure_code::family;

#if defined(STRATA_HAVE_ISAL) && STRATA_HAVE_ISAL

namespace {
using block = std::vector<std::byte>;

std::vector<block> random_blocks(int n, std::size_t len, std::uint32_t seed) {
  std::mt19937 gen{seed};
  std::vector<block> out(static_cast<std::size_t>(n), block(len));
  for (auto& b : out)
    for (auto& x : b) x = static_cast<std::byte>(gen() & 0xff);
  return out;
}

std::vector<std::byte const*> pointers(std::vector<block> const& bs) {
  std::vector<std::byte const*> p;
  for (auto const& b : bs) p.push_back(b.data());
  return p;
}

/// Every set of `lost` block indices out of n (ascending), as bit masks.
std::vector<unsigned> subsets(int n, int lost) {
  std::vector<unsigned> out;
  for (unsigned mask = 0; mask < (1u << n); ++mask)
    if (std::popcount(mask) == lost) out.push_back(mask);
  return out;
}
}  // namespace

TEST_CASE("erasure_code rebuilds the exact data after every combination of up to m losses", "[storage][erasure]") {
  struct shape {
    int k, m;
    family f;
  };
  auto const [k, m, f] = GENERATE(shape{1, 1, family::xor_parity}, shape{3, 1, family::xor_parity},
                                   shape{7, 1, family::xor_parity}, shape{3, 1, family::cauchy},
                                   shape{2, 2, family::cauchy}, shape{4, 2, family::cauchy},
                                   shape{5, 3, family::cauchy}, shape{6, 4, family::cauchy});
  std::size_t const len = GENERATE(std::size_t{1}, std::size_t{1000}, std::size_t{4099});
  CAPTURE(k, m, len, f == family::xor_parity);
  erasure_code code{k, m, f};
  auto const data = random_blocks(k, len, static_cast<std::uint32_t>(k * 131 + m * 7 + len));
  std::vector<block> parity(static_cast<std::size_t>(m), block(len));
  std::vector<std::byte*> pp;
  for (auto& p : parity) pp.push_back(p.data());
  code.encode(pointers(data), len, pp);

  // Each parity block alone is the same as the one encode makes.
  for (int p = 0; p < m; ++p) {
    block one(len);
    code.encode_one(p, pointers(data), len, one.data());
    CHECK(one == parity[static_cast<std::size_t>(p)]);
  }
  if (f == family::xor_parity) {
    block x(len);
    for (auto const& d : data)
      for (std::size_t i = 0; i < len; ++i) x[i] ^= d[i];
    CHECK(parity[0] == x);  // really XOR, not just any code with one parity block
  }

  std::vector<block> all = data;
  all.insert(all.end(), parity.begin(), parity.end());
  int checked = 0;
  for (int lost = 1; lost <= m; ++lost)
    for (unsigned mask : subsets(k + m, lost)) {
      std::vector<std::byte const*> blocks = pointers(all);
      std::vector<int> wanted;
      for (int i = 0; i < k + m; ++i)
        if (mask & (1u << i)) {
          blocks[static_cast<std::size_t>(i)] = nullptr;
          if (i < k) wanted.push_back(i);
        }
      // Ask for one surviving block too: it comes back as it was.
      if (static_cast<int>(wanted.size()) < k)
        for (int i = 0; i < k; ++i)
          if (!(mask & (1u << i))) {
            wanted.push_back(i);
            break;
          }
      std::vector<block> out(wanted.size(), block(len, std::byte{0x5a}));
      std::vector<std::byte*> op;
      for (auto& o : out) op.push_back(o.data());
      code.decode(blocks, len, wanted, op);
      for (std::size_t i = 0; i < wanted.size(); ++i) {
        CAPTURE(mask, wanted[i]);
        REQUIRE(out[i] == data[static_cast<std::size_t>(wanted[i])]);
      }
      ++checked;
    }
  std::size_t expected = 0;
  for (int lost = 1; lost <= m; ++lost) expected += subsets(k + m, lost).size();
  CHECK(checked == static_cast<int>(expected));
}

TEST_CASE("erasure_code refuses more losses than it tolerates, and bad shapes", "[storage][erasure]") {
  std::size_t const len = 256;
  erasure_code rs{4, 2, family::cauchy};
  auto const data = random_blocks(4, len, 1);
  std::vector<block> parity(2, block(len));
  std::vector<std::byte*> pp{parity[0].data(), parity[1].data()};
  rs.encode(pointers(data), len, pp);
  std::vector<std::byte const*> blocks{nullptr, data[1].data(), nullptr, data[3].data(), nullptr, parity[1].data()};
  block out(len);
  std::vector<std::byte*> op{out.data()};
  std::vector<int> wanted{0};
  REQUIRE_THROWS_WITH(rs.decode(blocks, len, wanted, op),
                      Catch::Contains("3 blocks lost") && Catch::Contains("at most 2"));

  erasure_code x{3, 1, family::xor_parity};
  std::vector<std::byte const*> two_lost{nullptr, nullptr, data[2].data(), parity[0].data()};
  REQUIRE_THROWS_WITH(x.decode(two_lost, len, wanted, op), Catch::Contains("2 blocks lost") && Catch::Contains("at most 1"));

  REQUIRE_THROWS_WITH((erasure_code{3, 2, family::xor_parity}), Catch::Contains("exactly one parity block"));
  REQUIRE_THROWS_WITH((erasure_code{0, 2, family::cauchy}), Catch::Contains("k >= 1"));
  REQUIRE_THROWS_WITH((erasure_code{250, 7, family::cauchy}), Catch::Contains("k + m <= 256"));
  std::vector<int> not_data{4};
  std::vector<std::byte const*> one_lost{nullptr, data[1].data(), data[2].data(), data[3].data(), parity[0].data(),
                                         parity[1].data()};
  REQUIRE_THROWS_WITH(rs.decode(one_lost, len, not_data, op), Catch::Contains("not a data block"));
}

#else

TEST_CASE("without ISA-L an erasure code is a usage error naming the package", "[storage][erasure]") {
  STATIC_REQUIRE_FALSE(have_isal);
  REQUIRE_THROWS_WITH((erasure_code{4, 2, family::cauchy}),
                      Catch::Contains("built without ISA-L") && Catch::Contains("libisal-dev"));
}

#endif
