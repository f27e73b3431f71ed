# Instrumented builds, each in a build directory of its own (README "Limits"):
#   -DCVGATE_SANITIZE=ON  gcc's AddressSanitizer + UndefinedBehaviorSanitizer on
#                         cvgate's own code: every source of every cvgate target
#                         except the few that include libtorch's headers (found
#                         by their #include <torch/...>). Those, like libtorch,
#                         OpenBLAS and the other Debian libraries, stay as built
#                         normally, so they compile with exactly the normal
#                         build's command lines and come out of ccache.
#                         make -f Makefile.wrapper sanitize.
#   -DCVGATE_FUZZ=ON      clang + libFuzzer over the torch-free readers only
#                         (cmake/Fuzz.cmake, tests/fuzz). make -f Makefile.wrapper fuzz.
option(CVGATE_SANITIZE "Build cvgate's own code with -fsanitize=address,undefined" OFF)
option(CVGATE_FUZZ "Build only the libFuzzer targets over the torch-free readers (clang)" OFF)

set(CVGATE_SANITIZE_FLAGS "")
if(CVGATE_SANITIZE)
  # No recovery: the first undefined behaviour fails the test that hit it.
  # -Og -g1 (after the build type's -O2 -g, so they win): the instrumented
  # build is in `make test`, so its compile time is CI's. One source
  # (lib/decision/Relay.cpp, gcc 12) took 20 s at -O2 -g uninstrumented and,
  # with ASan+UBSan, 29 s at -O1 -g1, 19 s at -Og -g1, 17 s at -O0. -Og keeps
  # the line tables the sanitizers' stack traces need and enough optimisation
  # that cvgate's own loops do not dominate; the time the tests spend is
  # mostly in libtorch, which is not instrumented either way.
  set(CVGATE_SANITIZE_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  set(CVGATE_SANITIZE_COMPILE_FLAGS ${CVGATE_SANITIZE_FLAGS} -Og -g1)
endif()
if(CVGATE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "CVGATE_FUZZ needs clang: -DCMAKE_CXX_COMPILER=clang++")
  endif()
  set(CVGATE_SANITIZE_FLAGS -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
      -fno-omit-frame-pointer)
endif()

# The instrumentation of one target (called by cvgate_warnings, which every
# cvgate target calls): its torch-free sources compiled with the flags, and
# whatever executable it ends up in linked with them (the runtime).
function(cvgate_sanitize target)
  if(NOT CVGATE_SANITIZE_FLAGS)
    return()
  endif()
  if(CVGATE_FUZZ)
    target_compile_options(${target} PRIVATE ${CVGATE_SANITIZE_FLAGS})  # no torch in a fuzz build
  else()
    get_target_property(sources ${target} SOURCES)
    get_target_property(dir ${target} SOURCE_DIR)
    foreach(src ${sources})
      get_filename_component(abs ${src} ABSOLUTE BASE_DIR ${dir})
      if(NOT abs MATCHES "\\.cpp$" OR NOT EXISTS ${abs})
        continue()
      endif()
      file(STRINGS ${abs} torch REGEX "^#include <torch/" LIMIT_COUNT 1)
      if(NOT torch)
        set_property(SOURCE ${src} TARGET_DIRECTORY ${target} APPEND PROPERTY COMPILE_OPTIONS ${CVGATE_SANITIZE_COMPILE_FLAGS})
      endif()
    endforeach()
  endif()
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE" OR type STREQUAL "SHARED_LIBRARY")
    target_link_options(${target} PRIVATE ${CVGATE_SANITIZE_FLAGS})
  else()
    target_link_options(${target} INTERFACE ${CVGATE_SANITIZE_FLAGS})
  endif()
endfunction()
