#include <gtest/gtest.h>

#include "fd_leak_listener.hpp"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::UnitTest::GetInstance()->listeners().Append(new luo::testing::FdLeakListener);
  return RUN_ALL_TESTS();
}
