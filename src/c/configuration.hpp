#pragma once
// The C API's configuration step, in a translation unit of its own (configuration.cpp): it includes
// toml++, which is compiled by the host compiler in every build (nvcc cannot), while strata_c.cpp is
// compiled as CUDA in CUDA builds.
#include <strata/checkpoint/configuration.hpp>

namespace strata::c_api {
/// strata's defaults, `directory` (NULL: keep the default), the file `file` (NULL: none), STRATA_CONFIG's
/// file, STRATA_* variables: later ones win.
strata::checkpoint::configuration load_configuration(char const* directory, char const* file);
}  // namespace strata::c_api
