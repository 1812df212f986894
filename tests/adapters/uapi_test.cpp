// The ioctl ABI, checked at runtime as well as by uapi.hpp's static_asserts, so the exact
// numbers show up in the test report and a change to them fails a named test.
#include "luo/adapters/uapi.hpp"

#include <gtest/gtest.h>
#include <linux/ioctl.h>

#include <cstddef>
#include <cstring>

namespace luo::uapi {
namespace {

TEST(UapiTest, CommandValues) {
  EXPECT_EQ(kCreateSession, 0xBA00UL);
  EXPECT_EQ(kRetrieveSession, 0xBA01UL);
  EXPECT_EQ(kPreserveFd, 0xBA40UL);
  EXPECT_EQ(kRetrieveFd, 0xBA41UL);
  EXPECT_EQ(kSessionFinish, 0xBA42UL);
  EXPECT_EQ(kSessionGetName, 0xBA43UL);
}

// The kernel defines every command with _IO(): no direction and no size bits. The generic
// <linux/ioctl.h> encoder (not a LUO header) must agree with our hand-written numbers.
TEST(UapiTest, CommandsAreIoEncodedWithoutDirectionOrSize) {
  EXPECT_EQ(kCreateSession, static_cast<unsigned long>(_IO(0xBA, 0x00)));
  EXPECT_EQ(kRetrieveSession, static_cast<unsigned long>(_IO(0xBA, 0x01)));
  EXPECT_EQ(kPreserveFd, static_cast<unsigned long>(_IO(0xBA, 0x40)));
  EXPECT_EQ(kRetrieveFd, static_cast<unsigned long>(_IO(0xBA, 0x41)));
  EXPECT_EQ(kSessionFinish, static_cast<unsigned long>(_IO(0xBA, 0x42)));
  EXPECT_EQ(kSessionGetName, static_cast<unsigned long>(_IO(0xBA, 0x43)));
  for (unsigned long cmd : {kCreateSession, kRetrieveSession, kPreserveFd, kRetrieveFd,
                            kSessionFinish, kSessionGetName}) {
    EXPECT_EQ(_IOC_DIR(cmd), 0UL) << std::hex << cmd;
    EXPECT_EQ(_IOC_SIZE(cmd), 0UL) << std::hex << cmd;
    EXPECT_EQ(_IOC_TYPE(cmd), 0xBAUL) << std::hex << cmd;
  }
}

TEST(UapiTest, CommandBasesAndOpCounts) {
  EXPECT_EQ(kIoctlType, 0xBAU);
  EXPECT_EQ(kDeviceCmdBase, 0x00U);
  EXPECT_EQ(kSessionCmdBase, 0x40U);
  EXPECT_EQ(kDeviceOpCount, 2U);
  EXPECT_EQ(kSessionOpCountLegacy, 3U);
  EXPECT_EQ(kSessionOpCount, 4U);
}

TEST(UapiTest, DevicePath) {
  EXPECT_STREQ(kDevicePath, "/dev/liveupdate");
}

TEST(UapiTest, StructSizes) {
  EXPECT_EQ(sizeof(CreateSessionArg), 72U);
  EXPECT_EQ(sizeof(RetrieveSessionArg), 72U);
  EXPECT_EQ(sizeof(PreserveFdArg), 16U);
  EXPECT_EQ(sizeof(RetrieveFdArg), 16U);
  EXPECT_EQ(sizeof(SessionFinishArg), 8U);
  EXPECT_EQ(sizeof(SessionGetNameArg), 72U);
}

TEST(UapiTest, FieldOffsets) {
  EXPECT_EQ(offsetof(CreateSessionArg, size), 0U);
  EXPECT_EQ(offsetof(CreateSessionArg, fd), 4U);
  EXPECT_EQ(offsetof(CreateSessionArg, name), 8U);
  EXPECT_EQ(sizeof(CreateSessionArg::name), 64U);

  EXPECT_EQ(offsetof(RetrieveSessionArg, size), 0U);
  EXPECT_EQ(offsetof(RetrieveSessionArg, fd), 4U);
  EXPECT_EQ(offsetof(RetrieveSessionArg, name), 8U);
  EXPECT_EQ(sizeof(RetrieveSessionArg::name), 64U);

  EXPECT_EQ(offsetof(PreserveFdArg, size), 0U);
  EXPECT_EQ(offsetof(PreserveFdArg, fd), 4U);
  EXPECT_EQ(offsetof(PreserveFdArg, token), 8U);

  EXPECT_EQ(offsetof(RetrieveFdArg, size), 0U);
  EXPECT_EQ(offsetof(RetrieveFdArg, fd), 4U);
  EXPECT_EQ(offsetof(RetrieveFdArg, token), 8U);

  EXPECT_EQ(offsetof(SessionFinishArg, size), 0U);
  EXPECT_EQ(offsetof(SessionFinishArg, reserved), 4U);

  EXPECT_EQ(offsetof(SessionGetNameArg, size), 0U);
  EXPECT_EQ(offsetof(SessionGetNameArg, reserved), 4U);
  EXPECT_EQ(offsetof(SessionGetNameArg, name), 8U);
  EXPECT_EQ(sizeof(SessionGetNameArg::name), 64U);
}

// The token is an aligned u64 in the kernel header, so the structs must keep 8-byte alignment
// even when embedded in something else (a 32-bit build would otherwise shift it).
TEST(UapiTest, TokenStructsAreEightByteAligned) {
  EXPECT_EQ(alignof(PreserveFdArg), 8U);
  EXPECT_EQ(alignof(RetrieveFdArg), 8U);
}

TEST(UapiTest, MinSizesEqualStructSizes) {
  EXPECT_EQ(kMinSize<CreateSessionArg>, 72U);
  EXPECT_EQ(kMinSize<RetrieveSessionArg>, 72U);
  EXPECT_EQ(kMinSize<PreserveFdArg>, 16U);
  EXPECT_EQ(kMinSize<RetrieveFdArg>, 16U);
  EXPECT_EQ(kMinSize<SessionFinishArg>, 8U);
  EXPECT_EQ(kMinSize<SessionGetNameArg>, 72U);
}

// Struct bytes are what the kernel copies; a value-initialised struct must be all zero bytes
// (no padding left indeterminate), which is what lets callers send "zeroed" structs.
TEST(UapiTest, ValueInitialisedStructsAreAllZeroBytes) {
  const auto all_zero = [](const auto& arg) {
    unsigned char bytes[sizeof(arg)];
    std::memcpy(bytes, &arg, sizeof(arg));
    for (unsigned char b : bytes) {
      if (b != 0)
        return false;
    }
    return true;
  };
  EXPECT_TRUE(all_zero(CreateSessionArg{}));
  EXPECT_TRUE(all_zero(RetrieveSessionArg{}));
  EXPECT_TRUE(all_zero(PreserveFdArg{}));
  EXPECT_TRUE(all_zero(RetrieveFdArg{}));
  EXPECT_TRUE(all_zero(SessionFinishArg{}));
  EXPECT_TRUE(all_zero(SessionGetNameArg{}));
}

}  // namespace
}  // namespace luo::uapi
