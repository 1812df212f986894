// fdstore_mapping.cpp: the nested managers' "systemd-fdstore-mapping" reader (§2.2) on any
// bytes. An accepted mapping, written back (units grouped in order of first appearance), reads
// back to the same index -> entry map with nothing skipped.
#include <map>
#include <variant>
#include <vector>

#include "fuzz_support.hpp"
#include "luo/impl/nested_manager.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using luo::MappingEntry;
  auto r = luo::parse_fdstore_mapping(luo::fuzz::as_text(data, size));
  auto* parsed = std::get_if<luo::handoff::Parsed<std::map<std::uint64_t, MappingEntry>>>(&r);
  if (parsed == nullptr)
    return 0;
  std::vector<luo::handoff::UnitEntries<MappingEntry>> units;
  for (const auto& [index, entry] : parsed->value) {
    luo::fuzz::check(index == entry.index && index > 0, "an entry filed under the wrong index");
    auto it = units.begin();
    while (it != units.end() && it->unit != entry.unit)
      ++it;
    if (it == units.end())
      it = units.insert(units.end(), {entry.unit, {}});
    it->fdstore.push_back(entry);
  }
  const std::string written = luo::fdstore_mapping_json(units);
  auto again = luo::parse_fdstore_mapping(written);
  auto* reparsed = std::get_if<luo::handoff::Parsed<std::map<std::uint64_t, MappingEntry>>>(&again);
  luo::fuzz::check(reparsed != nullptr, "the writer's output of an accepted mapping is refused",
                   written);
  luo::fuzz::check(reparsed->skipped.empty(), "the writer's output loses an entry", written);
  luo::fuzz::check(reparsed->value == parsed->value, "a mapping changes through the writer",
                   written);
  return 0;
}
