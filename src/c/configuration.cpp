#include "configuration.hpp"

#include <strata/checkpoint/configuration_file.hpp>

namespace strata::c_api {
strata::checkpoint::configuration load_configuration(char const* directory, char const* file) {
  strata::checkpoint::configuration cfg;
  if (directory != nullptr) cfg.directory = directory;
  return strata::checkpoint::load_configuration(cfg, file ? file : "");
}
}  // namespace strata::c_api
