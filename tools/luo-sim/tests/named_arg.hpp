// named_arg.hpp: a CREATE_SESSION or RETRIEVE_SESSION argument as an unmodified LUO program
// fills it (size set, the name copied in), for luo-sim's test programs.
#pragma once

#include <cstdio>

#include "luo/adapters/uapi.hpp"

template <class Arg>
Arg named(const char* name) {
  Arg arg{};
  arg.size = sizeof arg;
  std::snprintf(reinterpret_cast<char*>(arg.name), sizeof arg.name, "%s", name);
  return arg;
}
