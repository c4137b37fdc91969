#include "ragkit/retrieval/ignore_rules.h"

#include <array>
#include <bitset>
#include <cstdint>

namespace ragkit::retrieval {
namespace {

// One compiled element of a glob.
struct GlobToken {
  enum class Kind {
    kByte,          // one byte equal to `byte`
    kClass,         // one byte in `set` ('/' never is); '?' is the class of every byte but '/'
    kStar,          // any run of bytes without '/'
    kStarStar,      // any run of bytes
    kStarStarSlash  // "" or any run of bytes ending in '/' (zero or more directories)
  };
  Kind kind = Kind::kByte;
  uint8_t byte = 0;
  std::bitset<256> set;
};

bool posix_class_contains(std::string_view name, unsigned char c) {
  const bool upper = c >= 'A' && c <= 'Z';
  const bool lower = c >= 'a' && c <= 'z';
  const bool digit = c >= '0' && c <= '9';
  if (name == "alpha") return upper || lower;
  if (name == "digit") return digit;
  if (name == "alnum") return upper || lower || digit;
  if (name == "upper") return upper;
  if (name == "lower") return lower;
  if (name == "space") return c == ' ' || (c >= '\t' && c <= '\r');
  if (name == "blank") return c == ' ' || c == '\t';
  if (name == "xdigit") return digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  if (name == "punct") return c > 32 && c < 127 && !(upper || lower || digit);
  if (name == "print") return c >= 32 && c < 127;
  if (name == "graph") return c > 32 && c < 127;
  if (name == "cntrl") return c < 32 || c == 127;
  return false;
}

// Parses "[...]" starting at glob[pos] == '['. Returns the position after ']' or npos when the
// bracket is not closed (then '[' is a literal, as in git's wildmatch).
size_t parse_class(std::string_view glob, size_t pos, std::bitset<256>& set) {
  size_t i = pos + 1;
  bool negate = false;
  if (i < glob.size() && (glob[i] == '!' || glob[i] == '^')) {
    negate = true;
    ++i;
  }
  bool first = true;
  int previous = -1;  // the last single byte added, for ranges
  for (; i < glob.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(glob[i]);
    if (c == ']' && !first) {
      if (negate) set.flip();
      set.reset('/');
      return i + 1;
    }
    first = false;
    if (c == '[' && i + 1 < glob.size() && glob[i + 1] == ':') {
      const size_t close = glob.find(":]", i + 2);
      if (close != std::string_view::npos) {
        const std::string_view name = glob.substr(i + 2, close - i - 2);
        for (int b = 0; b < 256; ++b) {
          if (posix_class_contains(name, static_cast<unsigned char>(b))) set.set(b);
        }
        i = close + 1;
        previous = -1;
        continue;
      }
    }
    if (c == '\\' && i + 1 < glob.size()) c = static_cast<unsigned char>(glob[++i]);
    if (c == '-' && previous >= 0 && i + 1 < glob.size() && glob[i + 1] != ']') {
      unsigned char high = static_cast<unsigned char>(glob[++i]);
      if (high == '\\' && i + 1 < glob.size()) high = static_cast<unsigned char>(glob[++i]);
      for (int b = previous; b <= high; ++b) set.set(b);
      previous = -1;
      continue;
    }
    set.set(c);
    previous = c;
  }
  return std::string_view::npos;
}

std::vector<GlobToken> compile(std::string_view glob) {
  std::vector<GlobToken> tokens;
  for (size_t i = 0; i < glob.size();) {
    const char c = glob[i];
    GlobToken token;
    if (c == '*') {
      size_t run = i;
      while (run < glob.size() && glob[run] == '*') ++run;
      const bool double_star = run - i >= 2;
      const bool at_start = i == 0 || glob[i - 1] == '/';
      const bool at_end = run == glob.size();
      const bool before_slash = run < glob.size() && glob[run] == '/';
      if (double_star && at_start && before_slash) {
        token.kind = GlobToken::Kind::kStarStarSlash;
        i = run + 1;  // the '/' belongs to the token
      } else if (double_star && at_start && at_end) {
        token.kind = GlobToken::Kind::kStarStar;
        i = run;
      } else {
        token.kind = GlobToken::Kind::kStar;
        i = run;
      }
    } else if (c == '?') {
      token.kind = GlobToken::Kind::kClass;
      token.set.set();
      token.set.reset('/');
      ++i;
    } else if (c == '[') {
      std::bitset<256> set;
      const size_t after = parse_class(glob, i, set);
      if (after == std::string_view::npos) {
        token.byte = '[';
        ++i;
      } else {
        token.kind = GlobToken::Kind::kClass;
        token.set = set;
        i = after;
      }
    } else if (c == '\\' && i + 1 < glob.size()) {
      token.byte = static_cast<uint8_t>(glob[i + 1]);
      i += 2;
    } else {
      token.byte = static_cast<uint8_t>(c);
      ++i;
    }
    tokens.push_back(token);
  }
  return tokens;
}

}  // namespace

bool glob_match(std::string_view glob, std::string_view path) {
  const std::vector<GlobToken> tokens = compile(glob);
  const size_t n = path.size();
  // reach[j]: the tokens so far can match path[0, j).
  std::vector<uint8_t> reach(n + 1, 0), next(n + 1, 0);
  reach[0] = 1;
  for (const GlobToken& token : tokens) {
    std::fill(next.begin(), next.end(), 0);
    bool any = false;
    switch (token.kind) {
      case GlobToken::Kind::kByte:
        for (size_t j = 0; j < n; ++j) {
          if (reach[j] && static_cast<uint8_t>(path[j]) == token.byte) next[j + 1] = 1;
        }
        break;
      case GlobToken::Kind::kClass:
        for (size_t j = 0; j < n; ++j) {
          if (reach[j] && token.set.test(static_cast<uint8_t>(path[j]))) next[j + 1] = 1;
        }
        break;
      case GlobToken::Kind::kStar:
        for (size_t j = 0; j <= n; ++j) {
          next[j] = reach[j] || (j > 0 && next[j - 1] && path[j - 1] != '/');
        }
        break;
      case GlobToken::Kind::kStarStar:
        for (size_t j = 0; j <= n; ++j) next[j] = reach[j] || (j > 0 && next[j - 1]);
        break;
      case GlobToken::Kind::kStarStarSlash: {
        bool seen = false;  // some reach[k] with k < j
        for (size_t j = 0; j <= n; ++j) {
          next[j] = reach[j] || (j > 0 && seen && path[j - 1] == '/');
          if (reach[j]) seen = true;
        }
        break;
      }
    }
    for (uint8_t r : next) any = any || r;
    if (!any) return false;
    reach.swap(next);
  }
  return reach[n] != 0;
}

IgnoreRules IgnoreRules::parse(std::string_view text, std::string base_dir) {
  IgnoreRules rules;
  rules.base_dir_ = std::move(base_dir);
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    // Trailing spaces go unless the last one is escaped ("foo\ ").
    while (!line.empty() && line.back() == ' ' &&
           !(line.size() >= 2 && line[line.size() - 2] == '\\')) {
      line.remove_suffix(1);
    }
    if (line.empty() || line.front() == '#') continue;
    Pattern pattern;
    if (line.front() == '!') {
      pattern.negated = true;
      line.remove_prefix(1);
    } else if (line.size() >= 2 && line[0] == '\\' && (line[1] == '!' || line[1] == '#')) {
      line.remove_prefix(1);
    }
    if (!line.empty() && line.back() == '/') {
      pattern.dir_only = true;
      while (!line.empty() && line.back() == '/') line.remove_suffix(1);
    }
    if (line.empty()) continue;
    // A '/' anywhere but at the end (already removed) anchors the pattern.
    pattern.anchored = line.find('/') != std::string_view::npos;
    while (!line.empty() && line.front() == '/') line.remove_prefix(1);
    if (line.empty()) continue;
    pattern.glob = std::string(line);
    rules.patterns_.push_back(std::move(pattern));
  }
  return rules;
}

IgnoreRules::Decision IgnoreRules::match(std::string_view path, bool is_dir) const {
  std::string_view below = path;
  if (!base_dir_.empty()) {
    if (path.size() <= base_dir_.size() || path.substr(0, base_dir_.size()) != base_dir_ ||
        path[base_dir_.size()] != '/') {
      return Decision::kNone;
    }
    below = path.substr(base_dir_.size() + 1);
  }
  const size_t slash = below.rfind('/');
  const std::string_view basename =
      slash == std::string_view::npos ? below : below.substr(slash + 1);
  for (auto it = patterns_.rbegin(); it != patterns_.rend(); ++it) {
    if (it->dir_only && !is_dir) continue;
    if (glob_match(it->glob, it->anchored ? below : basename)) {
      return it->negated ? Decision::kInclude : Decision::kExclude;
    }
  }
  return Decision::kNone;
}

}  // namespace ragkit::retrieval
