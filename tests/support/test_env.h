// Where tests find the shared data: the RAGKIT_* environment variables that .ci/run points at
// ../shared. A test that needs one and does not find it fails with a message naming the variable.
#pragma once

#include <string>

namespace ragkit::testing {

// The directory in environment variable `var`; fails the current test (ADD_FAILURE) and returns
// "" when it is unset or not a directory.
std::string require_env_dir(const char* var);
inline std::string models_dir() { return require_env_dir("RAGKIT_MODELS_DIR"); }
inline std::string tokenizers_dir() { return require_env_dir("RAGKIT_TOKENIZERS_DIR"); }
inline std::string golden_dir() { return require_env_dir("RAGKIT_GOLDEN_DIR"); }
inline std::string data_dir() { return require_env_dir("RAGKIT_DATA_DIR"); }
// The CMake build directory (for generated test models and built tools).
std::string build_dir();
// The source tree (for fixtures under tests/fixtures).
std::string source_dir();
// A fresh empty directory under the system temp dir, removed at process exit.
std::string make_temp_dir(const std::string& prefix);

}  // namespace ragkit::testing
