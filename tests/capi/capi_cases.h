/* The C API's tests, written in C (capi_cases.c) and run by GoogleTest (capi_test.cpp), so the
 * fd-leak listener checks every one of them. Each case returns 0, or the line of the first
 * failed CHECK with its text in msg. */
#ifndef LUO_TESTS_CAPI_CASES_H
#define LUO_TESTS_CAPI_CASES_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LUO_CAPI_CASES(X)                 \
  X(BadArgumentsAreEinval)                \
  X(PreserveKexecRetrieve)                \
  X(WrongStateGivesTheModelsErrno)        \
  X(WithoutLuoTheDeviceIsMissing)         \
  X(FreezeFailureRollsBack)               \
  X(FdStoresOfAManager)                   \
  X(FdStoreHandoffAcrossKexec)            \
  X(CustomDispatchCanRefuse)              \
  X(StageBFailsCleanly)                   \
  X(RestoreWithNothingHandedOver)         \
  X(EnumsTakeAnyInt)                      \
  X(DirectDispatchKeepsTheDuplicateCheck) \
  X(MessagesNameTheCFunction)             \
  X(OutParametersAreClearedOnFailure)     \
  X(AnInvalidOwnerIsRefusedBeforeStageA)  \
  X(AnUnknownDispatchAnswerHoldsTheEntry) \
  X(TheManagerHandleAcrossAKexec)         \
  X(TheManagerHandleRefusesOutOfOrder)

#define LUO_CAPI_DECLARE(name) int luo_capi_case_##name(char* msg, size_t size);
LUO_CAPI_CASES(LUO_CAPI_DECLARE)
#undef LUO_CAPI_DECLARE

#ifdef __cplusplus
}
#endif

#endif
