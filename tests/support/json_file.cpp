#include "json_file.h"

#include <gtest/gtest.h>

#include <fstream>

namespace ragkit::testing {

nlohmann::json load_json(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  return nlohmann::json::parse(in);
}

}  // namespace ragkit::testing
