#include "ragkit/hub/hub_url.h"

#include <optional>

#include <cctype>
#include <charconv>
#include <cstdlib>

namespace ragkit::hub {
namespace {

uint16_t default_port(std::string_view scheme) { return scheme == "https" ? 443 : 80; }

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "host[:port]" (IPv6 as "[::1]:port") into host and port; false when malformed.
bool split_host_port(std::string_view authority, std::string& host, uint16_t& port) {
  std::string_view host_part = authority;
  std::string_view port_part;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return false;
    host_part = authority.substr(1, close - 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port_part = rest.substr(1);
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host_part = authority.substr(0, colon);
    port_part = authority.substr(colon + 1);
  }
  if (host_part.empty()) return false;
  for (char c : host_part) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_' &&
        c != ':') {
      return false;
    }
  }
  host = lower(host_part);
  if (!port_part.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port_part.data(), port_part.data() + port_part.size(), value);
    if (ec != std::errc() || end != port_part.data() + port_part.size() || value == 0 ||
        value > 65535) {
      return false;
    }
    port = static_cast<uint16_t>(value);
  }
  return true;
}

// The directory part of a target ("/a/b?x" → "/a/").
std::string target_directory(const std::string& target) {
  const std::string path = target.substr(0, target.find_first_of("?#"));
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "/" : path.substr(0, slash + 1);
}

bool truthy(const char* value) {
  if (value == nullptr) return false;
  const std::string v = lower(value);
  return !(v.empty() || v == "0" || v == "false" || v == "no" || v == "off");
}

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

}  // namespace

std::string Url::to_string() const {
  std::string out = scheme + "://";
  out += host.find(':') != std::string::npos ? std::string("[").append(host).append("]") : host;
  if (port != default_port(scheme)) out.append(":").append(std::to_string(port));
  return out + target;
}

std::string Url::authority() const { return host + ":" + std::to_string(port); }

Result<Url> parse_url(std::string_view text) {
  const auto invalid = [&] {
    return Status::invalid_argument(std::string("'").append(text) +
                                    "' is not an http:// or https:// URL");
  };
  const size_t sep = text.find("://");
  if (sep == std::string_view::npos) return invalid();
  Url url;
  url.scheme = lower(text.substr(0, sep));
  if (url.scheme != "http" && url.scheme != "https") return invalid();
  std::string_view rest = text.substr(sep + 3);
  const size_t path_start = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, path_start);
  url.target = path_start == std::string_view::npos ? "/" : std::string(rest.substr(path_start));
  if (url.target.front() != '/') url.target = std::string("/").append(url.target);
  if (const size_t hash = url.target.find('#'); hash != std::string::npos) url.target.resize(hash);
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const size_t colon = userinfo.find(':');
    url.user = std::string(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) url.password = std::string(userinfo.substr(colon + 1));
  }
  url.port = default_port(url.scheme);
  if (!split_host_port(authority, url.host, url.port)) return invalid();
  for (char c : url.target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return invalid();
  }
  return url;
}

Result<Url> resolve_location(const Url& base, std::string_view location) {
  if (location.empty()) return Status::invalid_argument("a redirect without a Location");
  if (location.find("://") != std::string_view::npos) return parse_url(location);
  if (location.starts_with("//")) return parse_url(base.scheme + ":" + std::string(location));
  Url url = base;
  url.user.clear();
  url.password.clear();
  if (location.front() == '/') {
    url.target = std::string(location);
  } else {
    url.target = target_directory(base.target) + std::string(location);
  }
  if (const size_t hash = url.target.find('#'); hash != std::string::npos) url.target.resize(hash);
  return url;
}

Result<Url> parse_proxy(std::string_view text) {
  if (text.find("://") != std::string_view::npos) return parse_url(text);
  Result<Url> url = parse_url("http://" + std::string(text));
  if (!url.ok())
    return Status::invalid_argument("proxy '" + std::string(text) +
                                    "' is neither host:port nor an http:// URL");
  return url;
}

namespace {

// A dotted-quad IPv4 address; nullopt for anything else.
std::optional<uint32_t> parse_ipv4(std::string_view text) {
  uint32_t address = 0;
  int parts = 0;
  size_t i = 0;
  while (parts < 4) {
    size_t digits = 0;
    uint32_t part = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) && digits < 3) {
      part = part * 10 + static_cast<uint32_t>(text[i] - '0');
      ++i, ++digits;
    }
    if (digits == 0 || part > 255) return std::nullopt;
    address = (address << 8) | part;
    if (++parts < 4) {
      if (i >= text.size() || text[i] != '.') return std::nullopt;
      ++i;
    }
  }
  if (i != text.size()) return std::nullopt;
  return address;
}

// One NO_PROXY entry against the (lower-case) host and port.
bool entry_matches(std::string_view entry, std::string_view host, uint16_t port) {
  // An optional ":port" (an IPv6 literal in brackets keeps its colons).
  if (const size_t colon = entry.rfind(':');
      colon != std::string_view::npos && entry.find(']') == std::string_view::npos &&
      entry.find(':') == colon) {
    const std::string_view digits = entry.substr(colon + 1);
    uint32_t wanted = 0;
    for (char c : digits) {
      if (!std::isdigit(static_cast<unsigned char>(c)) || wanted > 65535) return false;
      wanted = wanted * 10 + static_cast<uint32_t>(c - '0');
    }
    if (digits.empty() || wanted != port) return false;
    entry = entry.substr(0, colon);
  }
  if (entry.size() >= 2 && entry.front() == '[' && entry.back() == ']') {
    entry = entry.substr(1, entry.size() - 2);
  }
  if (const size_t slash = entry.find('/'); slash != std::string_view::npos) {
    const auto network = parse_ipv4(entry.substr(0, slash));
    const auto address = parse_ipv4(host);
    const std::string_view bits_text = entry.substr(slash + 1);
    if (!network || !address || bits_text.empty() || bits_text.size() > 2) return false;
    uint32_t bits = 0;
    for (char c : bits_text) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
      bits = bits * 10 + static_cast<uint32_t>(c - '0');
    }
    if (bits > 32) return false;
    const uint32_t mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
    return (*network & mask) == (*address & mask);
  }
  if (entry.starts_with("*.")) entry.remove_prefix(1);
  if (entry.starts_with(".")) entry.remove_prefix(1);
  if (entry.empty()) return false;
  if (host == entry) return true;
  return host.size() > entry.size() && host.ends_with(entry) &&
         host[host.size() - entry.size() - 1] == '.';
}

}  // namespace

bool bypasses_proxy(std::string_view host, uint16_t port, std::string_view no_proxy) {
  std::string name = lower(host);
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
    name = name.substr(1, name.size() - 2);
  }
  while (!name.empty() && name.back() == '.') name.pop_back();  // "host." is "host"
  const std::string list = lower(no_proxy);
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find_first_of(", \t", start);
    if (end == std::string::npos) end = list.size();
    const std::string_view entry = std::string_view(list).substr(start, end - start);
    if (entry == "*") return true;
    if (!entry.empty() && entry_matches(entry, name, port)) return true;
    start = end + 1;
  }
  return false;
}

std::string url_encode_path(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : text) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

HubEnvironment hub_environment() {
  HubEnvironment env;
  if (std::string endpoint = env_or_empty("HF_ENDPOINT"); !endpoint.empty()) {
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
    env.endpoint = endpoint;
  }
  env.token = env_or_empty("HF_TOKEN");
  if (env.token.empty()) env.token = env_or_empty("HUGGING_FACE_HUB_TOKEN");
  env.https_proxy = env_or_empty("HTTPS_PROXY");
  if (env.https_proxy.empty()) env.https_proxy = env_or_empty("https_proxy");
  env.http_proxy = env_or_empty("HTTP_PROXY");
  if (env.http_proxy.empty()) env.http_proxy = env_or_empty("http_proxy");
  env.no_proxy = env_or_empty("NO_PROXY");
  if (env.no_proxy.empty()) env.no_proxy = env_or_empty("no_proxy");
  for (const char* name : {"RAGKIT_OFFLINE", "HF_HUB_OFFLINE"}) {
    if (truthy(std::getenv(name))) {
      env.offline = true;
      env.offline_reason = std::string(name) + "=" + std::getenv(name);
      break;
    }
  }
  return env;
}

}  // namespace ragkit::hub
