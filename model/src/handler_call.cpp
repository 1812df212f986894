#include "luo/model/handler_call.hpp"

#include <ostream>

namespace luo {

std::ostream& operator<<(std::ostream& os, HandlerOp op) {
  return os << handler_op_name(op);
}

std::ostream& operator<<(std::ostream& os, const HandlerCall& call) {
  return os << "{" << call.op << " \"" << call.session << "\" 0x" << std::hex << call.token
            << std::dec << "}";
}

}  // namespace luo
