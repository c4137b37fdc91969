// Reads a JSON file for a test (goldens, fixtures): a failed expectation naming the path when it
// cannot be read, an exception (failing the test) when it is not JSON.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace ragkit::testing {

nlohmann::json load_json(const std::string& path);

}  // namespace ragkit::testing
