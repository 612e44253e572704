#pragma once
/// \file
/// \brief strata's exception types: every error names the thing it concerns.

#include <stdexcept>
#include <string>

namespace strata {

/// \brief Base of every error strata throws; `what()` names the file, rank or version involved.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// \brief A misuse of the API: protecting a name twice, restoring into a different type, ...
class usage_error : public error {
 public:
  using error::error;
};

/// \brief A checkpoint could not be written or committed; the last committed version is intact.
class checkpoint_error : public error {
 public:
  using error::error;
};

/// \brief No usable checkpoint could be restored, or restoring it is refused.
class restore_error : public error {
 public:
  using error::error;
};

/// \brief An MPI call failed.
class comm_error : public error {
 public:
  using error::error;
};

}  // namespace strata
