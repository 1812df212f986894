# The kernel simulator is the tests' oracle: it must decide what the kernel does from the uapi and
# the shared vocabulary alone, never from the model's tables or the implementation it judges.
# This script asks the compiler for every project header a source reaches (-MM: the transitive
# set, as the build sees it) and fails when one is outside the allowed set, so an include of an
# impl header that drags in every table fails here however deep it sits.
#
#   cmake -DCXX=<compiler> -DROOT=<source dir> -DSOURCES=<a;b> [-DDEFINES=<X;Y>]
#         [-DEXPECT_VIOLATION=<header>] -P cmake/simulator_independence.cmake
#
# EXPECT_VIOLATION turns the check on itself: it must then fail, naming that header (the test
# that shows a violation is caught).
cmake_minimum_required(VERSION 3.25)

# Paths relative to ROOT. The vocabulary of model/ (errno, limits, profile, session names,
# handler calls), the system layer of impl/ (SysResult, UniqueFd, the fd I/O loops), the uapi and
# ioctl seam of adapters/, the simulator's own files and the test-only mutation switch.
set(allowed
    "^adapters/src/simulated_[a-z_]+\\.(cpp|hpp)$"
    "^adapters/include/luo/adapters/(simulated_kernel|ioctl_backend|uapi)\\.hpp$"
    "^model/include/luo/model/(errno|limits|profile|session_name|handler_call)\\.hpp$"
    "^impl/include/luo/impl/(sys_result|unique_fd|fd_io)\\.hpp$"
    "^tests/mutants/include/luo/test/mutants\\.hpp$")

set(include_flags -I${ROOT}/model/include -I${ROOT}/impl/include -I${ROOT}/adapters/include
                  -I${ROOT}/adapters/src -I${ROOT}/tests/mutants/include)
set(define_flags)
foreach(d IN LISTS DEFINES)
  list(APPEND define_flags -D${d})
endforeach()

set(violations)
list(REMOVE_ITEM SOURCES "")
foreach(source IN LISTS SOURCES)
  # -MG: a header that is not found (nlohmann, say, reached only through a forbidden header) is
  # listed rather than failing the run, so the report names the forbidden include.
  execute_process(COMMAND ${CXX} -std=c++20 -MM -MG ${define_flags} ${include_flags} ${source}
                  OUTPUT_VARIABLE deps ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "simulator_independence: ${CXX} -MM failed on ${source}:\n${err}")
  endif()
  string(REPLACE "\\\n" " " deps "${deps}")
  string(REGEX REPLACE "^[^:]*:" "" deps "${deps}")
  string(REGEX REPLACE "[ \t\r\n]+" ";" deps "${deps}")
  foreach(dep IN LISTS deps)
    if(dep STREQUAL "")
      continue()
    endif()
    cmake_path(ABSOLUTE_PATH dep NORMALIZE)
    cmake_path(IS_PREFIX ROOT "${dep}" NORMALIZE inside)
    if(NOT inside OR dep STREQUAL source)
      continue()
    endif()
    file(RELATIVE_PATH rel "${ROOT}" "${dep}")
    set(ok FALSE)
    foreach(pattern IN LISTS allowed)
      if(rel MATCHES "${pattern}")
        set(ok TRUE)
      endif()
    endforeach()
    if(NOT ok)
      file(RELATIVE_PATH src_rel "${ROOT}" "${source}")
      list(APPEND violations "${src_rel} reaches ${rel}")
    endif()
  endforeach()
endforeach()
list(REMOVE_DUPLICATES violations)

if(DEFINED EXPECT_VIOLATION)
  list(FILTER violations INCLUDE REGEX "reaches ${EXPECT_VIOLATION}$")
  if(NOT violations)
    message(FATAL_ERROR "simulator_independence: the check let ${SOURCES} reach ${EXPECT_VIOLATION}")
  endif()
  message(STATUS "simulator_independence: caught as it must be: ${violations}")
elseif(violations)
  list(JOIN violations "\n  " text)
  message(FATAL_ERROR "simulator_independence: the simulator may use only the vocabulary and the "
                      "system layer, but:\n  ${text}")
else()
  message(STATUS "simulator_independence: ok")
endif()
