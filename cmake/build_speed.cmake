# Compile time. CI has 2 cores and builds everything twice (normal and ASan+UBSan); at -O2 most of
# the time went to the test binaries, whose every file generated its own copy of the GoogleTest,
# rapidcheck and nlohmann/json code it used. Two remedies, each with an option to turn it off:
#
# - LUO_UNITY_TESTS: each GoogleTest binary compiles as a few unity files (CMake UNITY_BUILD), so
#   its test files share one parse and one copy of each instantiation. The test files therefore
#   never define the same name twice, even in anonymous namespaces; shared helpers live in
#   tests/support or beside the area's tests. A unity file lets a test file see headers it did
#   not include: configure with OFF to check that every file includes what it uses.
# - LUO_OPTIMISE_TESTS=OFF (the default): the test binaries' own code is compiled without
#   optimisation, which halves their compile time. What they test, the libraries and tools, stays
#   optimised; so does the property tests' command code, which runs long sequences.
#
# Precompiled headers were measured too and lost: at -O2 parsing is the small part, and making
# the header cost more than it saved in every target here.
option(LUO_UNITY_TESTS "Compile each test binary as a few unity translation units" ON)
option(LUO_OPTIMISE_TESTS "Optimise the test binaries' own code like the libraries" OFF)

function(luo_fast_test_binary target)
  if(LUO_UNITY_TESTS)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 8)
  endif()
  if(NOT LUO_OPTIMISE_TESTS)
    # After the configuration's -O2 on the command line, so this one wins.
    target_compile_options(${target} PRIVATE -O0)
  elseif(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    # Optimised test code meets GCC 12's false reports of memcpy overflows inside libstdc++'s own
    # std::string moves ("forming offset [32, 41] is out of the bounds [0, 32]"), which come and
    # go with what else was inlined. GCC 13 fixed them; the libraries keep these warnings.
    target_compile_options(${target} PRIVATE -Wno-array-bounds -Wno-stringop-overflow
                                             -Wno-stringop-overread)
  endif()
endfunction()
