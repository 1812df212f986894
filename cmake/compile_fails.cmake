# Shows that a source does not compile, where the reason it must not is a design rule (an op
# table row without its handler): the source must compile with -D${CONTROL}, so the failure
# without it is the rule and not a missing include path.
#
#   cmake -DCXX=<compiler> -DSOURCE=<file> -DCONTROL=<macro> -DINCLUDES=<a;b> -P cmake/compile_fails.cmake
cmake_minimum_required(VERSION 3.25)

set(flags -std=c++20 -fsyntax-only)
foreach(dir IN LISTS INCLUDES)
  list(APPEND flags -I${dir})
endforeach()

execute_process(COMMAND ${CXX} ${flags} -D${CONTROL} ${SOURCE} RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "compile_fails: ${SOURCE} does not compile even with -D${CONTROL}:\n${err}")
endif()
execute_process(COMMAND ${CXX} ${flags} ${SOURCE} RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "compile_fails: ${SOURCE} compiles without -D${CONTROL}; it must not")
endif()
message(STATUS "compile_fails: ${SOURCE} is refused without -D${CONTROL}, as it must be")
