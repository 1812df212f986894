// Runs the C API's tests (tests/capi/capi_cases.c, written in C) under GoogleTest, so each one
// is also checked for leaked fds.
#include <gtest/gtest.h>

#include "capi_cases.h"

namespace {

#define LUO_CAPI_TEST(name)                                     \
  TEST(CApi, name) {                                            \
    char msg[1024] = "";                                        \
    EXPECT_EQ(luo_capi_case_##name(msg, sizeof msg), 0) << msg; \
  }
LUO_CAPI_CASES(LUO_CAPI_TEST)
#undef LUO_CAPI_TEST

}  // namespace
