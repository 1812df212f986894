// stage_a_mapping.cpp: the Stage-A reader (PID 1 -> systemd-shutdown, formats B and C) on any
// bytes; see handoff_roundtrip.hpp for the property.
#include "handoff_roundtrip.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  luo::fuzz::check_handoff_roundtrip<luo::handoff::StageA>(
      luo::fuzz::as_text(data, size), [](std::string_view t, luo::handoff::AcceptLegacy a) {
        return luo::handoff::parse_stage_a(t, a);
      });
  return 0;
}
