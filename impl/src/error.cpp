#include "luo/impl/error.hpp"

namespace luo {

std::string Error::message() const {
  std::string m;
  m += operation_name(op_);
  if (!object_.empty())
    m += " on " + object_;
  if (!state_.empty())
    m += " (" + state_ + ")";
  m += " ";
  m += origin_name(origin_);
  m += ": ";
  if (auto e = error()) {
    m += errno_name(*e);
  } else {
    m += "errno " + std::to_string(raw_errno_);
  }
  if (!detail_.empty())
    m += ": " + detail_;
  return m;
}

}  // namespace luo
