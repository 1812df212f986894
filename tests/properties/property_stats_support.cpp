#include "property_stats.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "kernel_text.hpp"

namespace luo::testing {
namespace {

bool enabled() {
  static const bool on = [] {
    const char* v = std::getenv("LUO_PROPERTY_STATS");
    return v != nullptr && std::string_view(v) == "1";
  }();
  return on;
}

// The class name without its namespaces.
std::string short_name(const std::type_info& t) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> demangled(
      abi::__cxa_demangle(t.name(), nullptr, nullptr, &status), std::free);
  std::string name = status == 0 ? demangled.get() : t.name();
  const auto colon = name.rfind("::");
  return colon == std::string::npos ? name : name.substr(colon + 2);
}

struct Table {
  std::map<std::string, std::map<std::string, long>> counts;
  ~Table() {
    if (counts.empty())
      return;
    std::cerr << "\nproperty command outcomes (LUO_PROPERTY_STATS=1):\n";
    for (const auto& [command, results] : counts) {
      std::cerr << "  " << command << ":";
      for (const auto& [result, n] : results)
        std::cerr << "  " << result << " " << n;
      std::cerr << "\n";
    }
  }
};

Table& table() {
  static Table t;
  return t;
}

}  // namespace

void count_outcome(std::string_view family, const std::type_info& command, int err) {
  if (enabled())
    count_outcome(family, command, errno_text(err));
}

void count_outcome(std::string_view family, const std::type_info& command, std::string_view label) {
  if (!enabled())
    return;
  ++table().counts[std::string(family) + " " + short_name(command)][std::string(label)];
}

}  // namespace luo::testing
