# The in-process systemd 262.1 harness (systemd262.cpp, interpose.c; see systemd262.hpp), as one
# object library that the Tier 0 tests (tests/systemd) and bench/systemd_phases_bench link, so
# both load and call systemd the same way. Included from the top level when either is built.
#
# An object library because interpose.c's open()/ioctl() must be linked in whole: nothing in the
# executable calls them, the dlopen'd libraries' PLT slots do. A consumer must also set
# ENABLE_EXPORTS so those definitions and manager_dispatch_external_fd_to_unit() reach the
# dynamic symbol table.
set(LUO_FETCH_SYSTEMD ${CMAKE_CURRENT_LIST_DIR}/fetch-systemd.sh)
add_library(luo_systemd262 OBJECT ${CMAKE_CURRENT_LIST_DIR}/systemd262.cpp
                                  ${CMAKE_CURRENT_LIST_DIR}/interpose.c)
target_include_directories(luo_systemd262 PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(luo_systemd262 PUBLIC luo::adapters ${CMAKE_DL_LIBS} PRIVATE luo_warnings)
target_compile_definitions(luo_systemd262 PRIVATE LUO_FETCH_SYSTEMD="${LUO_FETCH_SYSTEMD}")
set_target_properties(luo_systemd262 PROPERTIES C_STANDARD 11)
