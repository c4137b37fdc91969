// Router: (method, path) -> the handler of an endpoint. Patterns are exact paths, or a prefix
// ending in "/{path}" that captures the (percent-decoded) rest of the path as one parameter.
// A path that some route matches with another method is 405 (with the methods that would work);
// a path nothing matches is 404.
//
// Thread-safety: routes are added before the server starts; match() is const and concurrent.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ragkit::services {

class Exchange;
using Handler = std::function<void(Exchange&)>;

// Who may call a route when API keys are configured.
enum class Access {
  kKey,   // a valid Bearer key
  kOpen,  // anyone (/health, the web page)
};

struct Route {
  std::string method;   // "GET", "POST", "DELETE"
  std::string pattern;  // "/v1/search", "/v1/documents/{path}"
  Access access = Access::kKey;
  Handler handler;
};

struct RouteMatch {
  const Route* route = nullptr;     // null: no route for this method and path
  std::vector<std::string> params;  // captured parameters
  std::string allowed;              // "GET, POST" when the path exists with other methods
};

class Router {
 public:
  void add(std::string method, std::string pattern, Handler handler,
           Access access = Access::kKey);
  RouteMatch match(std::string_view method, std::string_view path) const;

 private:
  std::vector<Route> routes_;
};

}  // namespace ragkit::services
