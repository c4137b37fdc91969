// Where the Hub is and how to reach it: URLs, the endpoint, the token and proxies, as the
// environment sets them (the variables huggingface_hub reads, so one setup serves both).
//
//   HF_ENDPOINT          the Hub (default https://huggingface.co); http:// is allowed (tests,
//                        mirrors on a private network)
//   HF_TOKEN             sent as "Authorization: Bearer ..." to the Hub's host only
//   HTTPS_PROXY / https_proxy, HTTP_PROXY / http_proxy   a proxy for that scheme (host:port, or
//                        a URL with optional user:password@)
//   NO_PROXY / no_proxy  hosts reached directly, as curl reads it: comma- or space-separated
//                        names (matching the host and its subdomains; a leading "." or "*."
//                        is the same), IPv4 addresses or CIDR ranges ("10.0.0.0/8"), each with
//                        an optional ":port"; "*" alone bypasses the proxy for every host.
//                        Loopback hosts never go through a proxy.
//   RAGKIT_OFFLINE=1 / HF_HUB_OFFLINE=1   no network at all
//
// Thread-safety: plain values and pure functions (hub_environment() only reads the environment).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ragkit/common/status.h"

namespace ragkit::hub {

inline constexpr const char* kDefaultEndpoint = "https://huggingface.co";

// An absolute http(s) URL split into what a client session needs.
struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;
  uint16_t port = 0;           // explicit, or the scheme's default
  std::string target;          // path and query, always starting with '/'
  std::string user, password;  // from user:password@ (proxies), else empty

  // scheme://host[:port]target, the port written only when it is not the default.
  std::string to_string() const;
  // "host:port": whether two URLs reach the same server (a token goes only to the Hub's).
  std::string authority() const;
};

// Parses an absolute http:// or https:// URL; anything else is kInvalidArgument naming `text`.
Result<Url> parse_url(std::string_view text);

// Where a redirect's Location leads from `base`: an absolute URL as is, "//host/path" with
// base's scheme, "/path" on base's server, "path" relative to base's directory.
Result<Url> resolve_location(const Url& base, std::string_view location);

// A proxy given as "host:port" or "http://[user:pass@]host:port"; kInvalidArgument otherwise.
Result<Url> parse_proxy(std::string_view text);

// Whether NO_PROXY (`no_proxy`, as written) sends requests to host:port directly.
bool bypasses_proxy(std::string_view host, uint16_t port, std::string_view no_proxy);

// Percent-encodes a path segment (a repo's "org/name" keeps its '/' when keep_slash).
std::string url_encode_path(std::string_view text, bool keep_slash);

// The Hub settings the environment gives.
struct HubEnvironment {
  // HF_ENDPOINT without a trailing '/'. Default: kDefaultEndpoint.
  std::string endpoint = kDefaultEndpoint;
  // HF_TOKEN (or HUGGING_FACE_HUB_TOKEN). Default: none.
  std::string token;
  // HTTPS_PROXY/https_proxy and HTTP_PROXY/http_proxy as written. Default: none.
  std::string https_proxy, http_proxy;
  // NO_PROXY/no_proxy as written. Default: none.
  std::string no_proxy;
  // RAGKIT_OFFLINE or HF_HUB_OFFLINE set to anything but "", "0", "false", "no". Default: false.
  bool offline = false;
  // Which variable made `offline` true ("RAGKIT_OFFLINE=1"), for messages.
  std::string offline_reason;
};
HubEnvironment hub_environment();

}  // namespace ragkit::hub
