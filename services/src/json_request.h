// JSON request validation: a request body -> typed fields, or a 400 HttpError whose message and
// "field" name the field at fault (missing, wrong type, out of range). Invalid JSON and invalid
// UTF-8 (nlohmann's parser rejects ill-formed UTF-8 inside strings) are 400 too. Fields the
// endpoint does not know are ignored, as OpenAI's clients send extras.
//
// Thread-safety: a plain value over a parsed document.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace ragkit::services {

// Parses `body` as a JSON object (400 otherwise).
nlohmann::json parse_json_object(std::string_view body);

class JsonRequest {
 public:
  explicit JsonRequest(const nlohmann::json& object) : object_(object) {}

  bool has(std::string_view field) const;
  // A string field; required ones throw when absent; optional ones return nullopt.
  std::string required_string(std::string_view field) const;
  std::optional<std::string> optional_string(std::string_view field) const;
  // An integer in [min, max]; `fallback` when absent (or null).
  int64_t integer(std::string_view field, int64_t fallback, int64_t min, int64_t max) const;
  std::optional<int64_t> optional_integer(std::string_view field, int64_t min, int64_t max) const;
  // A number in [min, max].
  double number(std::string_view field, double fallback, double min, double max) const;
  bool boolean(std::string_view field, bool fallback) const;
  // The raw value (null when absent), for fields of several shapes ("input", "stop").
  const nlohmann::json& value(std::string_view field) const;

  const nlohmann::json& object() const { return object_; }

 private:
  const nlohmann::json& object_;
};

// The JSON type of `value` as a client would name it ("string", "number", "array", ...).
const char* json_type_name(const nlohmann::json& value);

}  // namespace ragkit::services
