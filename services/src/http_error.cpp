#include "http_error.h"

namespace ragkit::services {

nlohmann::json error_json(std::string_view message, std::string_view type, std::string_view field) {
  nlohmann::json error = {{"message", message}, {"type", type}};
  error["field"] = field.empty() ? nlohmann::json(nullptr) : nlohmann::json(field);
  return {{"error", std::move(error)}};
}

nlohmann::json HttpError::body() const { return error_json(what(), type_, field_); }

HttpError http_error_from(const Status& status) {
  switch (status.code()) {
    case Status::Code::kInvalidArgument:
    case Status::Code::kOutOfRange:
      return HttpError(400, status.message(), "invalid_request_error");
    case Status::Code::kNotFound:
      return HttpError(404, status.message(), "not_found");
    case Status::Code::kNotSupported:
      return HttpError(501, status.message(), "not_supported");
    default:
      return HttpError(500, status.message(), "server_error");
  }
}

}  // namespace ragkit::services
