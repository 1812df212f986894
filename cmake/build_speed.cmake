# Compile time. CI has 2 cores and builds everything twice (normal and ASan+UBSan); most of a
# translation unit's time went to the same large third-party headers (nlohmann/json, GoogleTest,
# rapidcheck: 2-5 s each time) and to code generation for the inline functions they bring, once
# per file. Three remedies, each with an option to turn it off:
#
# - LUO_PRECOMPILED_HEADERS: the libraries and tools parse those headers once per target.
# - LUO_UNITY_TESTS: each GoogleTest binary compiles as a few unity files (CMake UNITY_BUILD), so
#   its test files share one parse and one copy of each instantiation. The test files therefore
#   never define the same name twice, even in anonymous namespaces; shared helpers live in
#   tests/support or beside the area's tests.
# - LUO_OPTIMISE_TESTS=OFF (the default): the test binaries' own code is compiled without
#   optimisation, which halves their compile time at -O2. What they test, the libraries and
#   tools, stays optimised; the property tests' command code too, since it runs long sequences.
#
# Both make a file see headers it did not include; configuring with both OFF is the way to check
# that every file still includes what it uses.
option(LUO_PRECOMPILED_HEADERS "Precompile the large third-party headers once per target" ON)
option(LUO_UNITY_TESTS "Compile each test binary as a few unity translation units" ON)
option(LUO_OPTIMISE_TESTS "Optimise the test binaries' own code like the libraries" OFF)

set(LUO_PCH_LIBRARY_HEADERS <nlohmann/json.hpp> <algorithm> <cstdint> <map> <memory> <optional>
                            <set> <sstream> <string> <string_view> <unordered_map> <vector>)
set(LUO_PCH_TEST_HEADERS ${LUO_PCH_LIBRARY_HEADERS} <gtest/gtest.h> <gmock/gmock.h>
                         <rapidcheck.h> <rapidcheck/state.h>)

# luo_precompile_headers(<target> LIBRARY|TEST): the C sources of a target are left alone.
function(luo_precompile_headers target kind)
  if(NOT LUO_PRECOMPILED_HEADERS)
    return()
  endif()
  set(headers)
  foreach(header IN LISTS LUO_PCH_${kind}_HEADERS)
    # A header's closing '>' would end the generator expression: it is spelled $<ANGLE-R>.
    string(REPLACE ">" "$<ANGLE-R>" header "${header}")
    list(APPEND headers "$<$<COMPILE_LANGUAGE:CXX>:${header}>")
  endforeach()
  target_precompile_headers(${target} PRIVATE ${headers})
endfunction()

function(luo_fast_test_binary target)
  if(LUO_UNITY_TESTS)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 8)
  endif()
  if(NOT LUO_OPTIMISE_TESTS)
    # After the configuration's -O2 on the command line, so this one wins.
    target_compile_options(${target} PRIVATE -O0)
  endif()
endfunction()

# GCC 12's middle-end access warnings report memcpy overflows inside libstdc++'s own std::string
# moves that cannot happen ("forming offset [32, 41] is out of the bounds [0, 32]", "writing 26
# bytes into a region of size 16"), depending on what else was inlined: precompiled headers and
# unity files bring them up in code GCC accepted before. GCC 13 fixed these; under GCC 12 the
# three are off. The sanitizer build (clang) keeps its own bounds warnings, and ASan checks every
# access at run time.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(luo_warnings INTERFACE -Wno-array-bounds -Wno-stringop-overflow
                                                -Wno-stringop-overread)
endif()
