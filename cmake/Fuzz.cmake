# -DCVGATE_FUZZ=ON (with clang++): only the torch-free libraries the readers
# live in (cvgate_core, cvgate_data, cvgate_registry, cvgate_stats,
# cvgate_decision), instrumented for libFuzzer + ASan + UBSan
# (cmake/Sanitize.cmake), and one fuzz target per reader (tests/fuzz). No
# torch, no tools, no tests: a separate build directory, built in about a
# minute. make -f Makefile.wrapper fuzz builds and runs them.
add_subdirectory(lib)
add_subdirectory(tests/fuzz)
