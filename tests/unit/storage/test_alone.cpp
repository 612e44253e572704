// storage::alone (strata/storage/alone.hpp): the optional customisation points of writing alone,
// here `open` — called once by the eventual checkpointer — and its forwarding through the wrappers.
#include <catch2/catch.hpp>
#include <strata/comm/solo.hpp>
#include <strata/storage/alone.hpp>
#include <strata/storage/any.hpp>
#include <strata/storage/multilevel.hpp>
#include <strata/storage/node_local.hpp>
#include <strata/storage/posix_dir.hpp>

#include <memory>

using namespace strata;

namespace {
/// A shared directory that counts how often it is opened for writing alone.
struct counting_dir : storage::posix_dir {
  std::shared_ptr<int> opened = std::make_shared<int>(0);
  void open_alone() { ++*opened; }
};
}  // namespace

TEST_CASE("alone::open calls a driver's open_alone, through multilevel and any; a driver without one needs nothing",
          "[storage][alone]") {
  counting_dir d;
  storage::alone::open(d);
  CHECK(*d.opened == 1);

  storage::multilevel<counting_dir, storage::posix_dir, 2> two;
  storage::alone::open(two);
  CHECK(*two.fast.opened == 1);  // the fast level: the one written alone

  counting_dir held;
  storage::any<comm::solo> erased{held};
  storage::alone::open(erased);
  CHECK(*held.opened == 1);  // the copy in `erased` shares the counter

  storage::posix_dir plain;
  storage::alone::open(plain);  // no hook: a no-op
  storage::node_local none;
  storage::alone::open(none);   // not attached, no partner copies: nothing to open
  SUCCEED();
}
