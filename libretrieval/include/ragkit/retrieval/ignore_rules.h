// IgnoreRules: one list of .gitignore-style patterns (a `.ragignore` file, or the `--exclude`
// options), matched the way git documents gitignore(5):
//
//   - blank lines and lines starting with '#' are no patterns; "\#" and "\!" escape them;
//     trailing spaces are dropped unless escaped with a backslash;
//   - '!' negates: a path a later negated pattern matches is included again;
//   - a trailing '/' matches directories only;
//   - a pattern with a '/' at its start or in its middle is anchored to the rules' base directory
//     (the folder holding the .ragignore); otherwise it matches the last path component at any
//     depth below the base;
//   - '*' matches anything but '/', '?' one character but '/', "[a-z]", "[!a-z]", "[^a-z]" and
//     "[[:alpha:]]" one character of a class (never '/'); a backslash escapes the next character;
//   - "**/" at the start matches in every directory, "/**" at the end everything inside,
//     "/**/" zero or more directories; any other "**" is a plain '*';
//   - the last pattern that matches decides.
// As in git, a file inside an excluded directory cannot be included again: the walker never
// enters the directory (folder_walker.h), so no rule below it is consulted.
//
// Matching is a dynamic programme over (pattern position, path position): O(pattern * path) per
// pattern, whatever the pattern, so a hostile .ragignore cannot make the walk exponential.
// Matching is by bytes and case-sensitive (git's default on Linux).
//
// Thread-safety: an IgnoreRules is immutable after parse(); match() may run concurrently.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ragkit::retrieval {

class IgnoreRules {
 public:
  enum class Decision {
    kNone,     // no pattern matched: ask the rules of the parent directory
    kExclude,  // the last matching pattern excludes the path
    kInclude,  // the last matching pattern is a negation ("!pattern")
  };

  // Parses `text` (the lines of an ignore file, or one pattern per element joined by '\n').
  // `base_dir` is the directory the patterns are relative to, as a path relative to the walk root
  // with '/' separators and no leading or trailing '/' ("" for the root itself). Lines that are
  // not patterns are skipped; parsing never fails.
  static IgnoreRules parse(std::string_view text, std::string base_dir = "");

  // The decision of the last pattern matching `path` (relative to the walk root, '/' separators,
  // no leading '/'). Paths outside base_dir are never matched.
  Decision match(std::string_view path, bool is_dir) const;

  bool empty() const { return patterns_.empty(); }
  size_t size() const { return patterns_.size(); }
  const std::string& base_dir() const { return base_dir_; }

 private:
  struct Pattern {
    std::string glob;  // without '!', leading '/' and trailing '/'
    bool negated = false;
    bool dir_only = false;
    bool anchored = false;  // matched against the whole path below base_dir, not its basename
  };
  std::vector<Pattern> patterns_;
  std::string base_dir_;
};

// Whether `glob` (gitignore syntax as above, no '!' or trailing '/') matches the whole of `path`.
// Exposed for the table test.
bool glob_match(std::string_view glob, std::string_view path);

}  // namespace ragkit::retrieval
