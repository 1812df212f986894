#include "luo/model/profile.hpp"

namespace luo {
static_assert(profile_has(KernelProfile::v7_2, Feature::get_name));
static_assert(!profile_has(KernelProfile::v7_0, Feature::get_name));
static_assert(ProfileSet::with(Feature::legacy_limits).contains(KernelProfile::v6_19));
static_assert(!ProfileSet::with(Feature::legacy_limits).contains(KernelProfile::v7_2));
}  // namespace luo
