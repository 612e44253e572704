// keep_last<0> would retire every version at its own commit.
#include <strata/checkpoint/retention.hpp>

strata::retention::keep_last<0> keep_none;
