// luo/model/handler_call.hpp: the vocabulary of file-handler callbacks, shared by the model and
// the kernel simulator so that their call logs can be compared entry by entry.
//
// Only the names are shared. Each side decides on its own when to record a call (the model from
// its tables, the simulator from its lists), which is what makes comparing the logs meaningful.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

namespace luo {

using Token = std::uint64_t;

// Every call the kernel makes to a file handler, failed calls included, in the order made.
enum class HandlerOp : std::uint8_t {
  preserve,
  unpreserve,
  freeze,
  unfreeze,
  retrieve,
  can_finish,
  finish,   // finish() of a file that was retrieved
  discard,  // finish() of a file never (successfully) retrieved: its data is freed
};

constexpr std::string_view handler_op_name(HandlerOp op) {
  switch (op) {
    case HandlerOp::preserve:
      return "preserve";
    case HandlerOp::unpreserve:
      return "unpreserve";
    case HandlerOp::freeze:
      return "freeze";
    case HandlerOp::unfreeze:
      return "unfreeze";
    case HandlerOp::retrieve:
      return "retrieve";
    case HandlerOp::can_finish:
      return "can_finish";
    case HandlerOp::finish:
      return "finish";
    case HandlerOp::discard:
      return "discard";
  }
  return "?";
}

struct HandlerCall {
  HandlerOp op = HandlerOp::preserve;
  std::string session;
  Token token = 0;
  bool operator==(const HandlerCall&) const = default;
};

std::ostream& operator<<(std::ostream& os, HandlerOp op);
std::ostream& operator<<(std::ostream& os, const HandlerCall& call);

}  // namespace luo
