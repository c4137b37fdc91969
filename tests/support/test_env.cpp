#include "test_env.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <vector>

namespace ragkit::testing {

std::string require_env_dir(const char* var) {
  const char* value = std::getenv(var);
  if (value == nullptr || *value == '\0') {
    ADD_FAILURE() << "environment variable " << var
                  << " is not set; point it at the shared data (see .ci/run and ../shared/README.md)";
    return "";
  }
  struct stat st {};
  if (::stat(value, &st) != 0 || !S_ISDIR(st.st_mode)) {
    ADD_FAILURE() << var << "=" << value << " is not a directory";
    return "";
  }
  return value;
}

std::string build_dir() { return RAGKIT_TEST_BUILD_DIR; }
std::string source_dir() { return RAGKIT_TEST_SOURCE_DIR; }

namespace {
std::mutex g_mutex;
std::vector<std::filesystem::path>* g_temp_dirs = nullptr;
void remove_temp_dirs() {
  if (!g_temp_dirs) return;
  for (auto& p : *g_temp_dirs) {
    std::error_code ec;
    std::filesystem::remove_all(p, ec);
  }
}
}  // namespace

std::string make_temp_dir(const std::string& prefix) {
  std::string templ = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed for " << templ;
    return "";
  }
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!g_temp_dirs) {
    g_temp_dirs = new std::vector<std::filesystem::path>();
    std::atexit(remove_temp_dirs);
  }
  g_temp_dirs->emplace_back(buf.data());
  return buf.data();
}

}  // namespace ragkit::testing
