#include "trace.hpp"

#include <cstdarg>
#include <cstdio>

#include "luo/model/errno.hpp"

namespace luo::cli {

std::string format(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  va_list again;
  va_copy(again, args);
  const int n = std::vsnprintf(nullptr, 0, fmt, args);
  va_end(args);
  std::string out(n > 0 ? static_cast<std::size_t>(n) : 0, '\0');
  if (n > 0)
    std::vsnprintf(out.data(), out.size() + 1, fmt, again);
  va_end(again);
  return out;
}

std::string result_name(int result) {
  if (result == 0)
    return "ok";
  if (auto e = errno_from_int(result))
    return std::string(errno_name(*e));
  return "errno " + std::to_string(result);
}

std::string trace_line(const TransitionRecord& r) {
  std::string line =
      format("[boot %llu] %-16s %-30s %-13s -- %-16s --> %-12s %s%s",
             static_cast<unsigned long long>(r.boot), std::string(r.machine).c_str(),
             r.object.c_str(), std::string(r.from.empty() ? "(new)" : r.from).c_str(),
             std::string(r.event).c_str(), std::string(r.to).c_str(), result_name(r.result).c_str(),
             r.syscall_issued ? "" : " (refused before syscall)");
  if (r.token)
    line += format(" token=%#llx", static_cast<unsigned long long>(*r.token));
  return line;
}

nlohmann::ordered_json trace_json(const TransitionRecord& r) {
  nlohmann::ordered_json j;
  j["boot"] = r.boot;
  j["machine"] = r.machine;
  j["object"] = r.object;
  j["operation"] = operation_name(r.operation);
  j["event"] = r.event;
  j["from"] = r.from.empty() ? nullptr : nlohmann::ordered_json(r.from);
  j["to"] = r.to;
  j["result"] = result_name(r.result);
  j["syscall_issued"] = r.syscall_issued;
  if (r.token)
    j["token"] = *r.token;
  return j;
}

}  // namespace luo::cli
