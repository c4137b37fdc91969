#include "api_keys.h"

#include <cctype>
#include <fstream>

#include "ragkit/services/server.h"

namespace ragkit::services {

bool constant_time_equals(std::string_view a, std::string_view b) {
  // Walks the longer length whatever the contents; a length difference fails without a branch
  // on the bytes.
  const size_t n = a.size() > b.size() ? a.size() : b.size();
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

bool ApiKeys::check(std::string_view header) const {
  if (keys_.empty()) return true;
  constexpr std::string_view kScheme = "Bearer ";
  if (header.size() <= kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i) {  // the scheme is case-insensitive (RFC 7235)
    if (std::tolower(static_cast<unsigned char>(header[i])) !=
        std::tolower(static_cast<unsigned char>(kScheme[i]))) {
      return false;
    }
  }
  std::string_view token = header.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  bool match = false;
  for (const std::string& key : keys_) match |= constant_time_equals(token, key);  // no early exit
  return match;
}

Result<std::vector<std::string>> read_api_keys(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::not_found(path + ": cannot read the API key file");
  std::vector<std::string> keys;
  std::string line;
  while (std::getline(in, line)) {
    size_t b = 0, e = line.size();
    while (b < e && std::isspace(static_cast<unsigned char>(line[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(line[e - 1]))) --e;
    if (b == e || line[b] == '#') continue;
    keys.push_back(line.substr(b, e - b));
  }
  if (keys.empty()) {
    return Status::invalid_argument(path + ": no API keys in the file (one key per line)");
  }
  return keys;
}

}  // namespace ragkit::services
