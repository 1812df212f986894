# The kernel simulator is the tests' oracle: it must decide what the kernel does from the uapi and
# the shared vocabulary alone, never from the model's tables or the implementation it judges.
# The build enforces it. The simulator's sources compile in a target of their own whose only
# project include directory is a staging directory holding links to the headers it may use:
#   - the vocabulary of model/: errno, limits, profile, session names, handler calls;
#   - the system layer of impl/: SysResult, UniqueFd, the fd I/O loops;
#   - the uapi and ioctl seam of adapters/ and the simulator's own public header;
#   - the test-only mutation switch (used under LUO_TEST_MUTANTS only).
# Any other project header, a model table or an impl header that would drag one in, is simply
# not found: the compile fails ("No such file or directory"). The tests simulator_cannot_see_*
# (tests/CMakeLists.txt) show that it does.
set(LUO_SIMULATOR_ALLOWED_HEADERS
    model/include/luo/model/errno.hpp
    model/include/luo/model/limits.hpp
    model/include/luo/model/profile.hpp
    model/include/luo/model/session_name.hpp
    model/include/luo/model/handler_call.hpp
    impl/include/luo/impl/sys_result.hpp
    impl/include/luo/impl/unique_fd.hpp
    impl/include/luo/impl/fd_io.hpp
    adapters/include/luo/adapters/uapi.hpp
    adapters/include/luo/adapters/ioctl_backend.hpp
    adapters/include/luo/adapters/simulated_kernel.hpp
    tests/mutants/include/luo/test/mutants.hpp)

set(LUO_SIMULATOR_INCLUDE_DIR ${PROJECT_BINARY_DIR}/simulator-include)
file(REMOVE_RECURSE ${LUO_SIMULATOR_INCLUDE_DIR})
foreach(header IN LISTS LUO_SIMULATOR_ALLOWED_HEADERS)
  # The path below include/ is the one the sources write: luo/model/errno.hpp.
  string(REGEX REPLACE "^.*/include/" "" relative ${header})
  cmake_path(GET relative PARENT_PATH dir)
  file(MAKE_DIRECTORY ${LUO_SIMULATOR_INCLUDE_DIR}/${dir})
  # A link, not a copy: an edit of the header is seen at once, and diagnostics lead to it.
  file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${header} ${LUO_SIMULATOR_INCLUDE_DIR}/${relative}
       SYMBOLIC)
endforeach()

# Gives `target` the simulator's view of the tree: the staging directory and the simulator's
# private headers in adapters/src, and nothing of the libraries' include directories.
function(luo_simulator_view target)
  target_include_directories(${target} PRIVATE ${LUO_SIMULATOR_INCLUDE_DIR}
                                               ${PROJECT_SOURCE_DIR}/adapters/src)
  target_link_libraries(${target} PRIVATE $<BUILD_INTERFACE:luo_warnings>)
endfunction()
