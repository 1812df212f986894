#include "properties.hpp"

#include <array>
#include <stdexcept>

namespace luo::testing {
namespace {

bool every_profile(KernelProfile) {
  return true;
}

const std::array<PropertyDef, 3> kProperties = {{
    {"KernelLifecycle", 800, 200, kernel_lifecycle_sequence, every_profile},
    {"KexecRoundTrip", 600, 200, kexec_round_trip_sequence, every_profile},
    {"FdStoreHandoff", 600, 200, fd_store_handoff_sequence, every_profile},
}};

}  // namespace

std::span<const PropertyDef> all_properties() {
  return kProperties;
}

const PropertyDef& property_named(std::string_view name) {
  for (const auto& p : kProperties) {
    if (p.name == name)
      return p;
  }
  throw std::invalid_argument("no property named " + std::string(name));
}

std::string property_id(const PropertyDef& p, KernelProfile profile) {
  return std::string(p.name) + "/" + std::string(profile_name(profile));
}

}  // namespace luo::testing
