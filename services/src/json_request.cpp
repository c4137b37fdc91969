#include "json_request.h"

#include <cmath>

#include "http_error.h"

namespace ragkit::services {
namespace {

const nlohmann::json kNull;

std::string quoted(std::string_view field) { return "'" + std::string(field) + "'"; }

HttpError wrong_type(std::string_view field, const char* wanted, const nlohmann::json& got) {
  return HttpError::bad_field(std::string(field), quoted(field) + " must be " + wanted + ", not " +
                                                      json_type_name(got));
}

}  // namespace

nlohmann::json parse_json_object(std::string_view body) {
  if (body.empty()) {
    throw HttpError(400, "the request has no body; send a JSON object", "invalid_request_error");
  }
  nlohmann::json parsed;
  try {
    parsed = nlohmann::json::parse(body);
  } catch (const nlohmann::json::parse_error& e) {
    // e.what() names the byte offset and what was wrong (ill-formed UTF-8 included).
    throw HttpError(400, std::string("the body is not valid JSON: ") + e.what(),
                    "invalid_request_error");
  }
  if (!parsed.is_object()) {
    throw HttpError(400, std::string("the body must be a JSON object, not ") +
                             json_type_name(parsed),
                    "invalid_request_error");
  }
  return parsed;
}

const char* json_type_name(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::object: return "an object";
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::boolean: return "a boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return "an integer";
    case nlohmann::json::value_t::number_float: return "a number";
    default: return "an unsupported value";
  }
}

bool JsonRequest::has(std::string_view field) const {
  const auto it = object_.find(field);
  return it != object_.end() && !it->is_null();
}

const nlohmann::json& JsonRequest::value(std::string_view field) const {
  const auto it = object_.find(field);
  return it == object_.end() ? kNull : *it;
}

std::string JsonRequest::required_string(std::string_view field) const {
  if (!has(field)) {
    throw HttpError::bad_field(std::string(field), "missing required field " + quoted(field));
  }
  auto s = optional_string(field);
  if (s->empty()) {
    throw HttpError::bad_field(std::string(field), quoted(field) + " must not be empty");
  }
  return *s;
}

std::optional<std::string> JsonRequest::optional_string(std::string_view field) const {
  const nlohmann::json& v = value(field);
  if (v.is_null()) return std::nullopt;
  if (!v.is_string()) throw wrong_type(field, "a string", v);
  return v.get<std::string>();
}

std::optional<int64_t> JsonRequest::optional_integer(std::string_view field, int64_t min,
                                                     int64_t max) const {
  const nlohmann::json& v = value(field);
  if (v.is_null()) return std::nullopt;
  int64_t n = 0;
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)) {
      n = INT64_MAX;
    } else {
      n = v.get<int64_t>();
    }
  } else if (v.is_number_float() && std::isfinite(v.get<double>()) &&
             v.get<double>() == std::floor(v.get<double>()) && std::fabs(v.get<double>()) < 9e15) {
    n = static_cast<int64_t>(v.get<double>());  // 5.0 is 5
  } else {
    throw wrong_type(field, "an integer", v);
  }
  if (n < min || n > max) {
    throw HttpError::bad_field(std::string(field), quoted(field) + " must be between " +
                                                       std::to_string(min) + " and " +
                                                       std::to_string(max) + ", not " +
                                                       std::to_string(n));
  }
  return n;
}

int64_t JsonRequest::integer(std::string_view field, int64_t fallback, int64_t min,
                             int64_t max) const {
  return optional_integer(field, min, max).value_or(fallback);
}

double JsonRequest::number(std::string_view field, double fallback, double min, double max) const {
  const nlohmann::json& v = value(field);
  if (v.is_null()) return fallback;
  if (!v.is_number()) throw wrong_type(field, "a number", v);
  const double d = v.get<double>();
  if (!(d >= min && d <= max)) {
    throw HttpError::bad_field(std::string(field), quoted(field) + " must be between " +
                                                       nlohmann::json(min).dump() + " and " +
                                                       nlohmann::json(max).dump() + ", not " +
                                                       v.dump());
  }
  return d;
}

bool JsonRequest::boolean(std::string_view field, bool fallback) const {
  const nlohmann::json& v = value(field);
  if (v.is_null()) return fallback;
  if (!v.is_boolean()) throw wrong_type(field, "true or false", v);
  return v.get<bool>();
}

}  // namespace ragkit::services
