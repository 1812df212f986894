# The base layer, and the kernel simulator's independence, as build facts.
#
# The base layer is what every other part shares and what the simulator may use:
#   - luo_vocabulary, the vocabulary of model/: errno, limits, profile, session names, handler
#     calls (no table, no machine);
#   - luo_system, the system layer of impl/: SysResult, UniqueFd, the one careful fd I/O module.
# The simulator (luo_simulator, adapters/src/simulated_*.cpp) is the tests' oracle: it must decide
# what the kernel does from the uapi and that base alone, never from the model's tables or the
# implementation it judges.
#
# Each of these targets compiles with a *view* of the tree instead of the libraries' include
# directories: a staging directory holding links to exactly the headers it may include. Any other
# project header (a model table, an impl header that would drag one in) is not found, and the
# compile fails. The tests simulator_cannot_see_* (tests/CMakeLists.txt) show that it does. The
# objects of the three targets are part of luo_model, luo_impl and luo_adapters, so the installed
# libraries are the same five as before.
set(LUO_VOCABULARY_HEADERS
    model/include/luo/model/errno.hpp
    model/include/luo/model/limits.hpp
    model/include/luo/model/profile.hpp
    model/include/luo/model/session_name.hpp
    model/include/luo/model/handler_call.hpp)
set(LUO_SYSTEM_HEADERS
    impl/include/luo/impl/sys_result.hpp
    impl/include/luo/impl/unique_fd.hpp
    impl/include/luo/impl/fd_io.hpp)
# The uapi and ioctl seam of adapters/, the simulator's own public header, and the test-only
# mutation switch (used under LUO_TEST_MUTANTS only).
set(LUO_SIMULATOR_HEADERS
    adapters/include/luo/adapters/uapi.hpp
    adapters/include/luo/adapters/ioctl_backend.hpp
    adapters/include/luo/adapters/simulated_kernel.hpp
    tests/mutants/include/luo/test/mutants.hpp)

set(LUO_VIEWS_DIR ${PROJECT_BINARY_DIR}/layer-views)
file(REMOVE_RECURSE ${LUO_VIEWS_DIR})
foreach(view IN ITEMS vocabulary system simulator)
  string(TOUPPER ${view} upper)
  foreach(header IN LISTS LUO_${upper}_HEADERS)
    # The path below include/ is the one the sources write: luo/model/errno.hpp.
    string(REGEX REPLACE "^.*/include/" "" relative ${header})
    cmake_path(GET relative PARENT_PATH dir)
    file(MAKE_DIRECTORY ${LUO_VIEWS_DIR}/${view}/${dir})
    # A link, not a copy: an edit of the header is seen at once, and diagnostics lead to it.
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${header} ${LUO_VIEWS_DIR}/${view}/${relative} SYMBOLIC)
  endforeach()
endforeach()

# Gives `target` the view of `layer` (vocabulary, system or simulator): its headers and those of
# the layers below it, and nothing of the libraries' include directories.
function(luo_layer_view target layer)
  set(dirs ${LUO_VIEWS_DIR}/vocabulary)
  if(layer STREQUAL "system" OR layer STREQUAL "simulator")
    list(APPEND dirs ${LUO_VIEWS_DIR}/system)
  endif()
  if(layer STREQUAL "simulator")
    # Its private headers (adapters/src/simulated_*.hpp) are found beside its sources, as any
    # quoted include is; scripts/check-layering.sh holds its quoted includes to those and to
    # the view, since a relative path ("../../model/...") would reach past any view.
    list(APPEND dirs ${LUO_VIEWS_DIR}/simulator)
  endif()
  target_include_directories(${target} PRIVATE ${dirs})
  target_link_libraries(${target} PRIVATE $<BUILD_INTERFACE:luo_warnings>)
endfunction()
