#include <catch2/catch.hpp>
#include <strata/state/registry.hpp>

#include <array>
#include <random>
#include <span>
#include <string>
#include <vector>
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>

using namespace strata;

namespace {
struct particle {
  double x, v;
};
struct model {  // not trivially copyable: joins through serializer<model>
  std::string label;
  std::vector<float> weights;
};
// Round-trips a region: stage its bytes, then load them into `other`'s region.
template <class T>
void round_trip(T& from, T& to) {
  state::registry a, b;
  auto& ra = a.protect("x", from);
  auto& rb = b.protect("x", to);
  auto const bytes = ra.stage();
  std::vector<std::byte> copy(bytes.begin(), bytes.end());
  auto const info = ra.info();
  rb.check_compatible(info);
  rb.load(info, copy);
}
}  // namespace

template <>
struct strata::serializer<model> {
  static void save(byte_writer& w, model const& m) {
    w.range(m.label);
    w.range(m.weights);
  }
  static void load(byte_reader& r, model& m) {
    r.range(m.label);
    r.range(m.weights);
  }
};

TEST_CASE("every supported kind of state round-trips and picks the right region kind", "[state]") {
  STATIC_REQUIRE(state::protectable<double>);
  STATIC_REQUIRE(state::protectable<std::vector<particle>>);
  STATIC_REQUIRE(state::protectable<std::array<int, 4>>);
  STATIC_REQUIRE(state::protectable<thrust::device_vector<float>>);
  STATIC_REQUIRE(state::protectable<model>);
  STATIC_REQUIRE(state::thrust_device_vector<thrust::device_vector<float>>);
  STATIC_REQUIRE_FALSE(state::thrust_device_vector<std::vector<float>>);
  STATIC_REQUIRE(state::resizable_host_range<thrust::host_vector<int>>);
  STATIC_REQUIRE_FALSE(state::protectable<std::vector<std::string>>);

  SECTION("scalar") {
    double a = 3.25, b = 0;
    round_trip(a, b);
    CHECK(b == 3.25);
  }
  SECTION("std::vector is resized on restore") {
    std::vector<particle> a{{1, 2}, {3, 4}, {5, 6}}, b(1);
    round_trip(a, b);
    REQUIRE(b.size() == 3);
    CHECK(b[2].v == 6);
  }
  SECTION("std::string") {
    std::string a = "hello strata", b;
    round_trip(a, b);
    CHECK(b == a);
  }
  SECTION("std::array") {
    std::array<int, 4> a{1, 2, 3, 4}, b{};
    round_trip(a, b);
    CHECK(b == a);
  }
  SECTION("thrust::device_vector is resized on restore") {
    thrust::device_vector<float> a(100), b(3);
    for (int i = 0; i < 100; ++i) a[i] = static_cast<float>(i) * 0.5f;
    round_trip(a, b);
    REQUIRE(b.size() == 100);
    CHECK(b[99] == 49.5f);
  }
  SECTION("thrust::host_vector") {
    thrust::host_vector<long> a(5, 7), b;
    round_trip(a, b);
    CHECK(b.size() == 5);
    CHECK(b[4] == 7);
  }
  SECTION("RNG state continues the same sequence") {
    std::mt19937_64 a{42}, b{7};
    a.discard(1000);
    round_trip(a, b);
    CHECK(a() == b());
  }
  SECTION("user type through serializer<T>") {
    model a{"resnet", {1.f, 2.f, 3.f}}, b;
    round_trip(a, b);
    CHECK(b.label == "resnet");
    CHECK(b.weights == a.weights);
  }
  SECTION("std::span over caller memory") {
    std::vector<int> store_a{9, 8, 7}, store_b(3);
    std::span<int> a{store_a}, b{store_b};
    round_trip(a, b);
    CHECK(store_b == store_a);
  }
}

TEST_CASE("protecting the same name twice is refused", "[state]") {
  state::registry reg;
  double x = 0, y = 0;
  reg.protect("x", x);
  REQUIRE_THROWS_WITH(reg.protect("x", y), Catch::Contains("'x' is already protected"));
  REQUIRE_THROWS_AS(reg.protect("", y), usage_error);
  CHECK(reg.unprotect("x"));
  CHECK_NOTHROW(reg.protect("x", y));
}

TEST_CASE("restoring into another type or element size is refused with the region's name", "[state]") {
  state::registry a, b;
  std::vector<float> f(4);
  std::vector<double> d;
  std::vector<std::int32_t> i32;
  a.protect("u", f);
  auto& rd = b.protect("u", d);
  REQUIRE_THROWS_WITH(rd.check_compatible(a.find("u")->info()),
                      Catch::Contains("region 'u'") && Catch::Contains("f32") && Catch::Contains("f64"));
  state::registry c;
  auto& ri = c.protect("u", i32);  // same size, other type
  REQUIRE_THROWS_AS(ri.check_compatible(a.find("u")->info()), usage_error);

  std::array<float, 3> fixed{};
  state::registry e;
  auto& rf = e.protect("u", fixed);
  REQUIRE_THROWS_WITH(rf.check_compatible(a.find("u")->info()), Catch::Contains("fixed-size region of 3"));
}

TEST_CASE("a user serializer that leaves bytes unread is reported", "[state]") {
  state::registry a, b;
  std::vector<std::byte> raw(16);
  a.protect("m", raw);
  model m;
  auto& rm = b.protect("m", m);
  auto info = a.find("m")->info();
  auto bytes = a.find("m")->stage();
  // 16 zero bytes: label length 0, weights length 0, then 0 bytes left -> exactly consumed; add one more.
  std::vector<std::byte> payload(bytes.begin(), bytes.end());
  payload.push_back(std::byte{1});
  REQUIRE_THROWS_WITH(rm.load(info, payload), Catch::Contains("left 1 of 17 bytes unread"));
}
