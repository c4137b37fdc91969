// Private helpers for the small JSON files of a model directory (safetensors headers and indexes,
// sentence-transformers configs): nlohmann::json throws, our libraries return Status, so every
// parse error becomes a corruption Status naming the file here, at the point of entry.
// Thread-safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "ragkit/common/mapped_file.h"
#include "ragkit/common/status.h"

namespace ragkit::embed {

// Parses `text`; a syntax error (or invalid UTF-8) gives corruption "<what>: not valid JSON: ...".
inline Result<nlohmann::json> parse_json(std::string_view text, const std::string& what) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const std::exception& e) {
    return Status::corruption(what + ": not valid JSON: " + e.what());
  }
}

// Reads and parses a whole (small) JSON file; not_found when it is missing.
inline Result<nlohmann::json> read_json_file(const std::string& path) {
  RAGKIT_ASSIGN_OR_RETURN(std::string text, read_file(path));
  return parse_json(text, path);
}

// A non-negative JSON integer, or nullopt for negatives, fractions and non-numbers. nlohmann
// stores non-negative literals as unsigned and negative ones as signed, so both are checked.
inline std::optional<uint64_t> json_to_count(const nlohmann::json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0)
    return static_cast<uint64_t>(v.get<int64_t>());
  return std::nullopt;
}

namespace json_util_detail {
// Renders at most `depth` levels and stops once `out` passes `max_chars`. json::dump() would
// recurse once per nesting level, and a hostile header nests tens of thousands deep.
inline void append_excerpt(const nlohmann::json& v, std::string& out, size_t max_chars, int depth) {
  constexpr auto kReplace = nlohmann::json::error_handler_t::replace;
  if (!v.is_structured()) {
    out += v.dump(-1, ' ', false, kReplace);
    return;
  }
  const bool is_array = v.is_array();
  if (depth == 0) {
    out += is_array ? "[...]" : "{...}";
    return;
  }
  out += is_array ? '[' : '{';
  bool first = true;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!first) out += ',';
    first = false;
    if (out.size() > max_chars) break;
    if (!is_array) out += nlohmann::json(it.key()).dump(-1, ' ', false, kReplace) + ':';
    append_excerpt(it.value(), out, max_chars, depth - 1);
  }
  out += is_array ? ']' : '}';
}
}  // namespace json_util_detail

// A value rendered for an error message, cut short so a hostile file cannot flood the log.
inline std::string json_excerpt(const nlohmann::json& v, size_t max_chars = 80) {
  std::string s;
  json_util_detail::append_excerpt(v, s, max_chars, 4);
  if (s.size() > max_chars) s = s.substr(0, max_chars) + "...";
  return s;
}

}  // namespace ragkit::embed
