#include "serve_process.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <regex>
#include <thread>

#include "rag_process.h"
#include "test_env.h"

namespace ragkit::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void send(Poco::Net::HTTPClientSession& session, const std::string& method,
          const std::string& path, const std::string& body,
          const std::map<std::string, std::string>& headers) {
  Poco::Net::HTTPRequest request(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
  for (const auto& [name, value] : headers) request.set(name, value);
  if (!body.empty() || method == "POST") {
    if (!request.has("Content-Type")) request.setContentType("application/json");
    request.setContentLength64(static_cast<Poco::Int64>(body.size()));
  }
  std::ostream& out = session.sendRequest(request);
  out << body;
}

// Reads the response to the request just sent into `reply`; a client-side failure (refused,
// reset, timed out) becomes the body "client error: ..." with status 0.
HttpReply receive(Poco::Net::HTTPClientSession& session) {
  HttpReply reply;
  try {
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    reply.status = static_cast<int>(response.getStatus());
    for (const auto& [name, value] : response) reply.headers[lower(name)] = value;
    Poco::StreamCopier::copyToString(in, reply.body);
  } catch (const Poco::Exception& e) {
    reply.body = "client error: " + e.displayText();
  }
  return reply;
}

}  // namespace

nlohmann::json HttpReply::json() const {
  return nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
}

HttpReply http_request(int port, const std::string& method, const std::string& path,
                       const std::string& body, const std::map<std::string, std::string>& headers) {
  Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(port));
  session.setTimeout(Poco::Timespan(60, 0));
  try {
    send(session, method, path, body, headers);
  } catch (const Poco::Exception& e) {
    return {.status = 0, .headers = {}, .body = "client error: " + e.displayText()};
  }
  return receive(session);
}

std::vector<HttpReply> http_requests_on_one_connection(int port,
                                                       const std::vector<HttpCall>& calls) {
  std::vector<HttpReply> replies;
  Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(port));
  session.setTimeout(Poco::Timespan(60, 0));
  session.setKeepAlive(true);
  for (const HttpCall& call : calls) {
    try {
      send(session, call.method, call.path, call.body, call.headers);
    } catch (const Poco::Exception& e) {
      replies.push_back({.status = 0, .headers = {}, .body = "client error: " + e.displayText()});
      continue;
    }
    replies.push_back(receive(session));
  }
  return replies;
}

HttpReply http_request_declaring_body(int port, const std::string& method, const std::string& path,
                                      size_t content_length) {
  Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(port));
  session.setTimeout(Poco::Timespan(60, 0));
  try {
    Poco::Net::HTTPRequest request(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    request.setContentType("application/json");
    request.setContentLength(static_cast<std::streamsize>(content_length));
    session.sendRequest(request);
  } catch (const Poco::Exception& e) {
    return {.status = 0, .headers = {}, .body = "client error: " + e.displayText()};
  }
  return receive(session);
}

SseReply http_sse(int port, const std::string& path, const nlohmann::json& body,
                  const std::function<bool(const SseEvent&)>& on_event) {
  SseReply reply;
  try {
    Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(port));
    session.setTimeout(Poco::Timespan(60, 0));
    send(session, "POST", path, body.dump(), {});
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    reply.status = static_cast<int>(response.getStatus());
    if (reply.status != 200) {
      Poco::StreamCopier::copyToString(in, reply.error_body);
      return reply;
    }
    EXPECT_NE(response.getContentType().find("text/event-stream"), std::string::npos);
    SseEvent event;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) {  // the blank line ends an event
        reply.events.push_back(event);
        if (on_event && !on_event(event)) return reply;
        event = SseEvent();
      } else if (line.rfind("event: ", 0) == 0) {
        event.event = line.substr(7);
      } else if (line.rfind("data: ", 0) == 0) {
        if (!event.data.empty()) event.data += "\n";
        event.data += line.substr(6);
      }
    }
    reply.ended_cleanly = in.eof();
  } catch (const Poco::Exception& e) {
    reply.error_body = "client error: " + e.displayText();
  }
  return reply;
}

ServeProcess::ServeProcess(std::vector<std::string> args) {
  const std::string dir = make_temp_dir("ragkit-serve");
  out_path_ = dir + "/stdout";
  err_path_ = dir + "/stderr";
  std::vector<std::string> argv_strings = {RAGKIT_RAG_BINARY, "serve", "--port", "0"};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  const int out_fd = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  const int err_fd = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out_fd);
  ::close(err_fd);
  if (pid_ <= 0) {
    ADD_FAILURE() << "fork failed";
    return;
  }

  const std::regex listening(R"(listening on http://[^:]+:(\d+))");
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline && port_ == 0) {
    std::smatch m;
    const std::string out = read_whole_file(out_path_);
    if (std::regex_search(out, m, listening)) {
      port_ = std::stoi(m[1]);
      break;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      ADD_FAILURE() << "rag serve exited before listening:\n" << stderr_text();
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (port_ == 0) {
    ADD_FAILURE() << "rag serve did not start listening:\n" << stderr_text();
    return;
  }
  while (Clock::now() < deadline) {
    if (http_request(port_, "GET", "/health").status == 200) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ADD_FAILURE() << "/health never answered:\n" << stderr_text();
  port_ = 0;
}

ServeProcess::~ServeProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

int ServeProcess::stop(int signal, int timeout_s) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, signal);
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  while (Clock::now() < deadline) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return -1;
}

std::string ServeProcess::stderr_text() const { return read_whole_file(err_path_); }

}  // namespace ragkit::testing
