#include "event_stream.h"

#include <string>

namespace ragkit::services {

EventStream::EventStream(Poco::Net::HTTPServerResponse& response) {
  response.setStatusAndReason(Poco::Net::HTTPResponse::HTTP_OK);
  response.setContentType("text/event-stream; charset=utf-8");
  response.set("Cache-Control", "no-cache");
  response.set("X-Accel-Buffering", "no");  // proxies must not hold the events back
  response.setChunkedTransferEncoding(true);
  out_ = &response.send();
  out_->flush();
  ok_ = out_->good();
}

bool EventStream::send(std::string_view data, std::string_view event) {
  if (!ok_) return false;
  std::string frame;
  frame.reserve(data.size() + event.size() + 16);
  if (!event.empty()) frame.append("event: ").append(event).append("\n");
  size_t start = 0;
  while (true) {
    const size_t end = data.find('\n', start);
    frame.append("data: ").append(data.substr(start, end - start)).append("\n");
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  frame.append("\n");
  try {
    out_->write(frame.data(), static_cast<std::streamsize>(frame.size()));
    out_->flush();
    ok_ = out_->good();
  } catch (...) {  // Poco's socket exceptions, when the stream lets them through
    ok_ = false;
  }
  return ok_;
}

}  // namespace ragkit::services
