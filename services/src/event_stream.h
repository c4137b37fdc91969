// EventStream: a Server-Sent Events response (text/event-stream, chunked transfer encoding),
// each event flushed to the socket as soon as it is written so the client sees text as it forms.
//
// A write that fails (the client went away, the socket timed out) makes every later send()
// return false; a generation streaming into it stops there.
//
// Thread-safety: one stream per request, used on its HTTP thread (the generation callbacks run
// on that thread too).
#pragma once

#include <Poco/Net/HTTPServerResponse.h>

#include <ostream>
#include <string_view>

namespace ragkit::services {

class EventStream {
 public:
  // Sends the status line and headers.
  explicit EventStream(Poco::Net::HTTPServerResponse& response);

  // One event: optional "event: <name>" line, the data (one "data:" line per line of it), a
  // blank line; then flushed. False when the client is gone.
  bool send(std::string_view data, std::string_view event = {});
  bool ok() const { return ok_; }

 private:
  std::ostream* out_;
  bool ok_ = true;
};

}  // namespace ragkit::services
