#include "ragkit/services/server.h"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "exchange.h"
#include "service.h"

namespace ragkit::services {
namespace {

using Clock = std::chrono::steady_clock;

// The path of a request target, undecoded, without query or fragment ("/v1/search").
std::string raw_path(const std::string& target) {
  size_t begin = 0;
  if (target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0) {
    const size_t slash = target.find('/', target.find("//") + 2);  // absolute-form target
    if (slash == std::string::npos) return "/";
    begin = slash;
  }
  const size_t end = target.find_first_of("?#", begin);
  return target.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

void log_error(const std::string& what) { std::fprintf(stderr, "rag serve: %s\n", what.c_str()); }

// One request: route, authenticate, run the handler, turn whatever it throws into a JSON error,
// and record the metrics. Poco creates one per request.
class Dispatcher : public Poco::Net::HTTPRequestHandler {
 public:
  Dispatcher(Service& service, const Router& router) : service_(service), router_(router) {}

  void handleRequest(Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) override {
    const auto started = Clock::now();
    service_.metrics.request_started();
    Exchange exchange(request, response, service_.options.max_body_bytes);
    std::string endpoint = "unmatched";
    if (service_.stopping) response.setKeepAlive(false);
    try {
      dispatch(exchange, endpoint);
    } catch (const HttpError& e) {
      fail(exchange, e);
    } catch (const Poco::Exception& e) {
      fail(exchange, HttpError(500, "internal error: " + e.displayText(), "server_error"));
    } catch (const std::exception& e) {
      fail(exchange, HttpError(500, std::string("internal error: ") + e.what(), "server_error"));
    } catch (...) {
      fail(exchange, HttpError(500, "internal error", "server_error"));
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    service_.metrics.record_request(endpoint, exchange.status(), seconds);
    service_.metrics.request_finished();
  }

 private:
  void dispatch(Exchange& exchange, std::string& endpoint) {
    Poco::Net::HTTPServerRequest& request = exchange.request();
    const std::string path = raw_path(request.getURI());
    RouteMatch match = router_.match(request.getMethod(), path);
    if (match.route == nullptr) {
      if (!match.allowed.empty()) {
        HttpError e(405, request.getMethod() + " is not allowed on " + path + " (allowed: " +
                             match.allowed + ")",
                    "method_not_allowed");
        e.headers.emplace_back("Allow", match.allowed);
        throw e;
      }
      throw HttpError(404, "no such endpoint: " + request.getMethod() + " " + path,
                      "not_found");
    }
    endpoint = match.route->pattern;
    if (match.route->access == Access::kKey && service_.keys.enabled() &&
        !service_.keys.check(request.get("Authorization", ""))) {
      HttpError e(401,
                  request.has("Authorization")
                      ? "the API key is not valid"
                      : "missing API key: send the header \"Authorization: Bearer <key>\"",
                  "authentication_error");
      e.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"ragkit\"");
      throw e;
    }
    exchange.set_params(std::move(match.params));
    match.route->handler(exchange);
  }

  void fail(Exchange& exchange, const HttpError& error) {
    if (error.status() >= 500) log_error(error.what());
    if (exchange.responded()) return;  // a stream already started: nothing more can be said
    if (exchange.body_unread()) exchange.close_connection();
    try {
      exchange.send_error(error);
    } catch (const std::exception& e) {  // Poco::Exception is one too
      log_error(std::string("cannot send the error response: ") + e.what());
    }
  }

  Service& service_;
  const Router& router_;
};

class DispatcherFactory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  DispatcherFactory(Service& service, const Router& router) : service_(service), router_(router) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest&) override {
    return new Dispatcher(service_, router_);
  }

 private:
  Service& service_;
  const Router& router_;
};

}  // namespace

class Server::Impl {
 public:
  Impl(const ServiceResources& resources, const ServerOptions& options)
      : service(resources, options) {}

  Service service;
  Router router;
  std::unique_ptr<Poco::Net::HTTPServer> http;
  bool stopped = false;
};

Result<std::unique_ptr<Server>> Server::start(const ServiceResources& resources,
                                              const ServerOptions& options) {
  if (resources.collection == nullptr || resources.retriever == nullptr ||
      resources.answerer == nullptr || resources.pool == nullptr) {
    return Status::invalid_argument("Server::start: the collection, retriever, answerer and "
                                    "pool are required");
  }
  if (options.http_threads < 1) {
    return Status::invalid_argument("--http-threads must be at least 1");
  }
  auto impl = std::make_unique<Impl>(resources, options);
  Service& service = impl->service;
  for (const std::string& root : options.allowed_roots) {
    std::error_code ec;
    auto canonical = std::filesystem::canonical(root, ec);
    if (ec || !std::filesystem::is_directory(canonical, ec)) {
      return Status::invalid_argument("--allow-root " + root + ": not an existing folder");
    }
    service.allowed_roots.push_back(canonical);
  }
  add_search_routes(impl->router, service);
  add_ask_routes(impl->router, service);
  add_document_routes(impl->router, service);
  add_openai_routes(impl->router, service);
  add_status_routes(impl->router, service);

  try {
    Poco::Net::ServerSocket socket;
    socket.bind(Poco::Net::SocketAddress(options.host, options.port), /*reuseAddress=*/true);
    socket.listen(options.max_queued_connections);
    auto* params = new Poco::Net::HTTPServerParams;  // owned by the server (reference counted)
    params->setMaxThreads(options.http_threads);
    params->setMaxQueued(options.max_queued_connections);
    const Poco::Timespan timeout(static_cast<long>(options.timeout.count()), 0);
    params->setTimeout(timeout);
    params->setKeepAlive(true);
    params->setKeepAliveTimeout(Poco::Timespan(5, 0));
    params->setServerName("ragkit");
    impl->http = std::make_unique<Poco::Net::HTTPServer>(
        new DispatcherFactory(service, impl->router), socket, params);
    impl->http->start();
  } catch (const Poco::Exception& e) {
    return Status::io_error("cannot listen on " + options.host + ":" +
                            std::to_string(options.port) + ": " + e.displayText());
  }
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { stop(std::chrono::milliseconds(2000)); }

uint16_t Server::port() const { return impl_->http ? impl_->http->port() : 0; }

void Server::stop(std::chrono::milliseconds grace) {
  if (impl_->stopped || !impl_->http) return;
  impl_->stopped = true;
  Service& service = impl_->service;
  service.stopping = true;
  impl_->http->stop();  // no new connections; the ones open finish their requests
  const auto deadline = Clock::now() + grace;
  while (service.metrics.in_flight() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Whatever still runs is cut short: waiting generations give up, running ones stop at their
  // next token (service.stopping), and their responses end.
  service.cancel_generations = true;
  service.generation_queue.cancel();
  const auto cut = Clock::now() + std::chrono::seconds(5);
  while (service.metrics.in_flight() > 0 && Clock::now() < cut) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  impl_->http->stopAll(/*abortCurrent=*/true);
}

}  // namespace ragkit::services
