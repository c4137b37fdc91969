// HttpError: a request that cannot be served, as the status and the JSON error body the client
// gets: {"error": {"message", "type", "field"}}. Handlers and the validation helpers throw it; the
// server's handler boundary catches it (and every other exception, as a 500) and sends it.
//
// Thread-safety: a plain value.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "ragkit/common/status.h"

namespace ragkit::services {

class HttpError : public std::runtime_error {
 public:
  // `type` is a short machine-readable kind ("invalid_request_error", "not_found", ...); `field`
  // the request field at fault, "" when none.
  HttpError(int status, std::string message, std::string type, std::string field = {})
      : std::runtime_error(message), status_(status), type_(std::move(type)),
        field_(std::move(field)) {}

  int status() const { return status_; }
  const std::string& type() const { return type_; }
  const std::string& field() const { return field_; }
  // Extra response headers (Retry-After, WWW-Authenticate).
  std::vector<std::pair<std::string, std::string>> headers;

  nlohmann::json body() const;

  // 400 naming `field`.
  static HttpError bad_field(std::string field, std::string message) {
    return HttpError(400, std::move(message), "invalid_request_error", std::move(field));
  }

 private:
  int status_;
  std::string type_;
  std::string field_;
};

// The error body for any status.
nlohmann::json error_json(std::string_view message, std::string_view type, std::string_view field);

// A library Status as the client sees it: invalid_argument -> 400, not_found -> 404,
// not_supported -> 501, everything else 500; the message is the Status's.
HttpError http_error_from(const Status& status);

}  // namespace ragkit::services
