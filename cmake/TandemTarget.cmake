# Per-target build settings. Warnings are set on each Tandem target (never globally), so
# third-party code is not held to them; sanitizers apply to every Tandem target when
# TANDEM_SANITIZE is on (the test build).

function(tandem_target_options target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror)
  if(TANDEM_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer
                                             -fno-sanitize-recover=undefined)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()

# tandem_library(<name> SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# A library whose public headers live in <dir>/include.
function(tandem_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
                                     PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  tandem_target_options(${name})
  if(TANDEM_SANITIZE)
    # Static libraries carry the link option to whoever links them.
    target_link_options(${name} INTERFACE -fsanitize=address,undefined)
  endif()
endfunction()

# tandem_executable(<name> SOURCES ... [DEPS ...])
function(tandem_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  tandem_target_options(${name})
endfunction()

# tandem_unit_test(<name> SOURCES ... [DEPS ...]): a GoogleTest binary registered with CTest
# (label "unit"); tests are discovered one by one so ctest shows each.
function(tandem_unit_test name)
  # RESOURCE_LOCK: a host-wide resource the tests use (e.g. loop_devices); ctest -j never runs two
  # tests holding the same lock at once.
  cmake_parse_arguments(ARG "" "RESOURCE_LOCK" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  tandem_target_options(${name})
  set(labels unit)
  if(ARG_LABELS)
    set(labels ${ARG_LABELS})
  endif()
  set(lock)
  if(ARG_RESOURCE_LOCK)
    set(lock RESOURCE_LOCK ${ARG_RESOURCE_LOCK})
  endif()
  gtest_discover_tests(${name} PROPERTIES LABELS "${labels}" ${lock} DISCOVERY_TIMEOUT 60)
endfunction()

# Adds every direct subdirectory of the current source dir that has a CMakeLists.txt, so that
# parts owned by different people never edit the same list.
function(tandem_add_subdirectories)
  file(GLOB children LIST_DIRECTORIES true RELATIVE ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/*)
  list(SORT children)
  foreach(child ${children})
    if(IS_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/${child} AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${child}/CMakeLists.txt)
      add_subdirectory(${child})
    endif()
  endforeach()
endfunction()
