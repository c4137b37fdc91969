#include "router.h"

#include <Poco/URI.h>

namespace ragkit::services {
namespace {

constexpr std::string_view kCapture = "{path}";

// Whether `path` matches `pattern`; the captured rest in `param`.
bool matches(std::string_view pattern, std::string_view path, std::string& param) {
  if (pattern.size() > kCapture.size() &&
      pattern.substr(pattern.size() - kCapture.size()) == kCapture) {
    const std::string_view prefix = pattern.substr(0, pattern.size() - kCapture.size());
    if (path.size() <= prefix.size() || path.substr(0, prefix.size()) != prefix) return false;
    param.clear();
    Poco::URI::decode(std::string(path.substr(prefix.size())), param);
    return true;
  }
  return pattern == path;
}

}  // namespace

void Router::add(std::string method, std::string pattern, Handler handler, Access access) {
  routes_.push_back({std::move(method), std::move(pattern), access, std::move(handler)});
}

RouteMatch Router::match(std::string_view method, std::string_view path) const {
  RouteMatch result;
  std::string param;
  for (const Route& route : routes_) {
    if (!matches(route.pattern, path, param)) continue;
    if (route.method == method) {
      result.route = &route;
      if (!param.empty()) result.params.push_back(param);
      return result;
    }
    if (result.allowed.find(route.method) == std::string::npos) {
      result.allowed += (result.allowed.empty() ? "" : ", ") + route.method;
    }
  }
  return result;
}

}  // namespace ragkit::services
