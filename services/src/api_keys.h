// ApiKeys: Bearer-token authentication. A request is authorised when its
// "Authorization: Bearer <key>" names one of the configured keys. Keys are compared in constant
// time (every byte of every key is looked at, whatever matches), so response timing tells an
// attacker nothing about how much of a guess was right.
//
// Thread-safety: immutable after construction; check() may run on any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ragkit::services {

class ApiKeys {
 public:
  explicit ApiKeys(std::vector<std::string> keys) : keys_(std::move(keys)) {}

  bool enabled() const { return !keys_.empty(); }
  // Whether the Authorization header value authorises the request (always, when disabled).
  bool check(std::string_view authorization_header) const;

 private:
  std::vector<std::string> keys_;
};

// Constant-time equality of two strings (time depends on the lengths only).
bool constant_time_equals(std::string_view a, std::string_view b);

}  // namespace ragkit::services
