# Helpers shared by the libraries' CMakeLists.

# ragkit_test_target(TARGET): what every GoogleTest binary gets. gtest's header is precompiled
# once per binary (it is a third of a small test's compile time). Under the sanitizers the test
# code is compiled without optimisation: it is most of that build's compile time and little of
# its run time, which the libraries' code (still -O1) dominates.
function(ragkit_test_target target)
  target_precompile_headers(${target} PRIVATE <gtest/gtest.h>)
  if(RAGKIT_SANITIZE)
    target_compile_options(${target} PRIVATE -O0)
  endif()
endfunction()

# ragkit_library(NAME DEPS...): a static library from <dir>/src/*.cpp with public headers in
# <dir>/include, and a GoogleTest binary from <dir>/tests/*_test.cpp when tests are on.
function(ragkit_library name)
  cmake_parse_arguments(ARG "" "" "PUBLIC_DEPS;PRIVATE_DEPS;TEST_DEPS" ${ARGN})
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/*.cpp)
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
                                     PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  if(RAGKIT_BUILD_TESTS)
    file(GLOB tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/tests/*_test.cpp)
    if(tests)
      add_executable(${name}_tests ${tests})
      target_include_directories(${name}_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src
                                                       ${CMAKE_SOURCE_DIR}/tests/support)
      target_link_libraries(${name}_tests PRIVATE ${name} ${ARG_TEST_DEPS} ragkit_test_support
                                                  GTest::gtest GTest::gtest_main)
      ragkit_test_target(${name}_tests)
      gtest_discover_tests(${name}_tests DISCOVERY_TIMEOUT 60
                           PROPERTIES ENVIRONMENT "RAGKIT_BUILD_DIR=${CMAKE_BINARY_DIR}")
    endif()
  endif()
  if(RAGKIT_FUZZ)
    file(GLOB fuzzers CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/*_fuzz.cpp)
    foreach(f ${fuzzers})
      get_filename_component(fname ${f} NAME_WE)
      add_executable(${fname} ${f})
      target_include_directories(${fname} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
      target_link_libraries(${fname} PRIVATE ${name})
      target_link_options(${fname} PRIVATE -fsanitize=fuzzer)
    endforeach()
  endif()
endfunction()
