// Exchange: one request and its response as a handler sees them — the body read under the size
// limit, JSON parsed and checked, and the ways to answer: a JSON document, a text page, an error
// or a Server-Sent Events stream.
//
// Body limit: a Content-Length over the limit is refused (413) before a byte is read; a chunked
// body is read with a cap and refused as soon as it passes the limit. The connection is then
// closed rather than drained.
//
// Thread-safety: one Exchange per request, used on its HTTP thread only.
#pragma once

#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "event_stream.h"
#include "http_error.h"

namespace ragkit::services {

class Exchange {
 public:
  Exchange(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response,
           size_t max_body_bytes)
      : request_(request), response_(response), max_body_bytes_(max_body_bytes) {}

  Poco::Net::HTTPServerRequest& request() { return request_; }
  // Path parameters the route captured ("/v1/documents/{path}" -> the decoded path).
  const std::vector<std::string>& params() const { return params_; }
  void set_params(std::vector<std::string> params) { params_ = std::move(params); }

  // The whole body (413 over the limit).
  std::string read_body();
  // The body as a JSON object (400 when it is not one, 413 over the limit).
  nlohmann::json json_body();

  void send_json(int status, const nlohmann::json& body);
  void send_json(int status, const nlohmann::ordered_json& body);
  void send_text(int status, std::string_view content_type, std::string_view body);
  void send_error(const HttpError& error);
  // Starts a 200 text/event-stream response; the stream writes the rest.
  EventStream& start_event_stream();

  // Whether the request came with a body that nobody read (an error thrown before the handler
  // read it): the connection must then close, or the body would be parsed as the next request.
  bool body_unread() const;
  // Closes the connection after this response (no keep-alive).
  void close_connection() { response_.setKeepAlive(false); }

  // Whether the status line has gone out (a response was started).
  bool responded() const { return response_.sent(); }
  int status() const { return static_cast<int>(response_.getStatus()); }

 private:
  void send_body(int status, std::string_view content_type, std::string_view body);

  Poco::Net::HTTPServerRequest& request_;
  Poco::Net::HTTPServerResponse& response_;
  size_t max_body_bytes_;
  std::vector<std::string> params_;
  bool body_read_ = false;
  std::unique_ptr<EventStream> stream_;
};

// JSON text for the wire: compact, invalid UTF-8 (never expected) replaced rather than thrown.
std::string dump_json(const nlohmann::json& j);
std::string dump_json(const nlohmann::ordered_json& j);

}  // namespace ragkit::services
