// Designated initialisers of checkpointer options follow the declaration order (directory, trigger,
// retention, ...; see checkpointer.hpp and tests/unit/checkpoint/test_checkpointer_options.cpp).
#include <strata/checkpoint/checkpointer.hpp>
#include <strata/comm/solo.hpp>

strata::checkpointer<strata::comm::solo>::options out_of_order{.trigger = {.n = 10}, .directory = "ckpt"};
