#include "exchange.h"

#include <istream>

#include "json_request.h"

namespace ragkit::services {
namespace {

HttpError too_large(size_t limit) {
  HttpError e(413,
              "the request body is larger than the limit of " + std::to_string(limit) +
                  " bytes (rag serve --max-body-bytes)",
              "request_too_large");
  return e;
}

}  // namespace

std::string dump_json(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
std::string dump_json(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

bool Exchange::body_unread() const {
  if (body_read_) return false;
  const std::streamsize declared = request_.getContentLength64();
  return request_.getChunkedTransferEncoding() ||
         (declared != Poco::Net::HTTPMessage::UNKNOWN_CONTENT_LENGTH && declared > 0);
}

std::string Exchange::read_body() {
  const std::streamsize declared = request_.getContentLength64();
  if (declared != Poco::Net::HTTPMessage::UNKNOWN_CONTENT_LENGTH &&
      static_cast<uint64_t>(declared) > max_body_bytes_) {
    response_.setKeepAlive(false);  // the unread body must not be parsed as the next request
    throw too_large(max_body_bytes_);
  }
  std::string body;
  std::istream& in = request_.stream();
  char buffer[16384];
  while (in) {
    in.read(buffer, sizeof buffer);
    const std::streamsize n = in.gcount();
    if (n <= 0) break;
    if (body.size() + static_cast<size_t>(n) > max_body_bytes_) {
      response_.setKeepAlive(false);
      throw too_large(max_body_bytes_);
    }
    body.append(buffer, static_cast<size_t>(n));
  }
  body_read_ = true;
  return body;
}

nlohmann::json Exchange::json_body() { return parse_json_object(read_body()); }

void Exchange::send_body(int status, std::string_view content_type, std::string_view body) {
  response_.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
  response_.setContentType(std::string(content_type));
  response_.setContentLength64(static_cast<Poco::Int64>(body.size()));
  std::ostream& out = response_.send();
  out.write(body.data(), static_cast<std::streamsize>(body.size()));
  out.flush();
}

void Exchange::send_json(int status, const nlohmann::json& body) {
  send_body(status, "application/json", dump_json(body));
}

void Exchange::send_json(int status, const nlohmann::ordered_json& body) {
  send_body(status, "application/json", dump_json(body));
}

void Exchange::send_text(int status, std::string_view content_type, std::string_view body) {
  send_body(status, content_type, body);
}

void Exchange::send_error(const HttpError& error) {
  for (const auto& [name, value] : error.headers) response_.set(name, value);
  send_json(error.status(), error.body());
}

EventStream& Exchange::start_event_stream() {
  stream_ = std::make_unique<EventStream>(response_);
  return *stream_;
}

}  // namespace ragkit::services
