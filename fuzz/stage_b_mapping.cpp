// stage_b_mapping.cpp: the Stage-B reader (systemd-shutdown -> next PID 1, the "luo-mapping"
// memfd at token 0, formats B and C) on any bytes; see handoff_roundtrip.hpp for the property.
#include "handoff_roundtrip.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  luo::fuzz::check_handoff_roundtrip<luo::handoff::StageB>(
      luo::fuzz::as_text(data, size), [](std::string_view t, luo::handoff::AcceptLegacy a) {
        return luo::handoff::parse_stage_b(t, a);
      });
  return 0;
}
