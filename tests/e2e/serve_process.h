// Runs `rag serve` in a child process for the end-to-end tests: on a free loopback port (--port 0;
// the port is read from the "listening on" line it prints), ready once GET /health answers; and a
// small HTTP client over Poco::Net::HTTPClientSession for talking to it.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ragkit::testing {

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  nlohmann::json json() const;  // the body parsed (null when it is not JSON)
};

// One request on a fresh connection. `headers` are added as given.
HttpReply http_request(int port, const std::string& method, const std::string& path,
                       const std::string& body = "",
                       const std::map<std::string, std::string>& headers = {});
// A request that declares a body of `content_length` bytes in its headers but sends none: how a
// test sees the server refuse an oversized body (413) without its own write failing when the
// server closes the connection mid-body, as it should.
// Several requests sent one after the other on ONE keep-alive connection (a browser's way), each
// reply read whole before the next request goes out.
struct HttpCall {
  std::string method, path, body;
  std::map<std::string, std::string> headers;
};
std::vector<HttpReply> http_requests_on_one_connection(int port, const std::vector<HttpCall>& calls);

HttpReply http_request_declaring_body(int port, const std::string& method, const std::string& path,
                                      size_t content_length);
inline HttpReply http_post(int port, const std::string& path, const nlohmann::json& body,
                           const std::map<std::string, std::string>& headers = {}) {
  return http_request(port, "POST", path, body.dump(), headers);
}

// A Server-Sent Events response read event by event as it arrives.
struct SseEvent {
  std::string event;  // "" for unnamed events
  std::string data;
};
// POSTs `body` and calls `on_event` for each event as it arrives (return false to hang up).
// The status (200 when the stream started), and every event read.
struct SseReply {
  int status = 0;
  std::string error_body;  // when not 200
  std::vector<SseEvent> events;
  bool ended_cleanly = false;  // the server finished the chunked body
};
SseReply http_sse(int port, const std::string& path, const nlohmann::json& body,
                  const std::function<bool(const SseEvent&)>& on_event = {});

class ServeProcess {
 public:
  // Starts `rag serve ARGS... --port 0` and waits (up to 60 s) until /health answers; a failed
  // expectation (with the child's stderr) otherwise, and port() 0.
  explicit ServeProcess(std::vector<std::string> args);
  ~ServeProcess();  // SIGKILL when still running
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  // Sends `signal` and waits up to `timeout_s` for the exit; the exit code (-1: killed by a
  // signal or still running, then killed).
  int stop(int signal, int timeout_s);
  std::string stderr_text() const;

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string out_path_, err_path_;
};

}  // namespace ragkit::testing
