# Warnings per target, never global (house style).
function(cvgate_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wshadow -Wnon-virtual-dtor -Wpointer-arith -Wcast-align
    -Wunused -Woverloaded-virtual -Wformat=2 -Wimplicit-fallthrough)
  cvgate_sanitize(${target})  # cmake/Sanitize.cmake: nothing unless a sanitizer build
endfunction()

# Include subdirectories that exist, in order, so areas can land one by one.
macro(cvgate_add_subdirs)
  foreach(dir ${ARGN})
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${dir}/CMakeLists.txt)
      add_subdirectory(${dir})
    endif()
  endforeach()
endmacro()

# cvgate_tool(name SOURCES ... LIBS ...): a tool binary with install rule.
function(cvgate_tool name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS})
  cvgate_warnings(${name})
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
  install(TARGETS ${name} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endfunction()

# cvgate_test(name SOURCES ... LIBS ... [LABELS ...] [PROPERTIES ...]): a
# GoogleTest binary registered with CTest; LABELS and PROPERTIES (CTest test
# properties, one value each) apply to each of its tests.
#
# CMake 3.25's gtest_discover_tests writes each element of PROPERTIES as an
# argument of its own, so a list value (two ENVIRONMENT entries, two labels)
# shifts every name/value pair after it: RESOURCE_LOCK, TIMEOUT and LABELS
# were silently lost that way. The lists are therefore set by a script of our
# own that ctest reads after the discovered tests (name_properties.cmake).
function(cvgate_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS;PROPERTIES" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/core)
  target_compile_definitions(${name} PRIVATE
    CVGATE_SOURCE_DIR="${PROJECT_SOURCE_DIR}" CVGATE_BIN_DIR="${CMAKE_BINARY_DIR}/bin")
  cvgate_warnings(${name})
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 TEST_LIST ${name}_TESTS PROPERTIES ${T_PROPERTIES})
  set(lists "ENVIRONMENT \"CVGATE_SOURCE_DIR=${PROJECT_SOURCE_DIR};CVGATE_BIN_DIR=${CMAKE_BINARY_DIR}/bin\"")
  if(T_LABELS)
    string(APPEND lists " LABELS \"${T_LABELS}\"")
  endif()
  set(script ${CMAKE_CURRENT_BINARY_DIR}/${name}_properties.cmake)
  file(WRITE ${script} "if(${name}_TESTS)\n  set_tests_properties(\${${name}_TESTS} PROPERTIES ${lists})\nendif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${script})
endfunction()
