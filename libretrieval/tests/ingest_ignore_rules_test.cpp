// IgnoreRules against the examples of git's gitignore(5) documentation, one row each.
#include <gtest/gtest.h>

#include <string>

#include "ragkit/retrieval/ignore_rules.h"

namespace ragkit::retrieval {
namespace {

using Decision = IgnoreRules::Decision;

struct Row {
  const char* rules;  // the ignore file
  const char* path;   // relative to the root (the ignore file's folder)
  bool is_dir;
  Decision expected;
};

TEST(IngestIgnoreRules, GitDocumentedSemantics) {
  const Row rows[] = {
      // No slash: the basename at any depth.
      {"*.log", "debug.log", false, Decision::kExclude},
      {"*.log", "logs/deep/debug.log", false, Decision::kExclude},
      {"*.log", "debug.txt", false, Decision::kNone},
      // A leading slash anchors to the ignore file's folder.
      {"/debug.log", "debug.log", false, Decision::kExclude},
      {"/debug.log", "logs/debug.log", false, Decision::kNone},
      // A slash in the middle anchors too ("doc/frotz/" matches doc/frotz, not a/doc/frotz).
      {"doc/frotz/", "doc/frotz", true, Decision::kExclude},
      {"doc/frotz/", "a/doc/frotz", true, Decision::kNone},
      // A trailing slash: directories only; without a middle slash, at any depth.
      {"frotz/", "a/frotz", true, Decision::kExclude},
      {"frotz/", "a/frotz", false, Decision::kNone},
      // "foo/*" matches foo/test.json and foo/bar, not foo/bar/hello.c.
      {"foo/*", "foo/test.json", false, Decision::kExclude},
      {"foo/*", "foo/bar", true, Decision::kExclude},
      {"foo/*", "foo/bar/hello.c", false, Decision::kNone},
      // "**/" in front: every directory.
      {"**/foo", "foo", false, Decision::kExclude},
      {"**/foo", "a/b/foo", false, Decision::kExclude},
      {"**/foo/bar", "foo/bar", false, Decision::kExclude},
      {"**/foo/bar", "x/y/foo/bar", false, Decision::kExclude},
      // "/**" at the end: everything inside, not the folder itself.
      {"abc/**", "abc/x/y.txt", false, Decision::kExclude},
      {"abc/**", "abc", true, Decision::kNone},
      // "/**/": zero or more directories.
      {"a/**/b", "a/b", false, Decision::kExclude},
      {"a/**/b", "a/x/b", false, Decision::kExclude},
      {"a/**/b", "a/x/y/b", false, Decision::kExclude},
      {"a/**/b", "a/xb", false, Decision::kNone},
      // '?', ranges, negated ranges and POSIX classes; never across '/'.
      {"debug?.log", "debug0.log", false, Decision::kExclude},
      {"debug?.log", "debug10.log", false, Decision::kNone},
      {"debug[0-9].log", "debug1.log", false, Decision::kExclude},
      {"debug[0-9].log", "debuga.log", false, Decision::kNone},
      {"debug[!01].log", "debug2.log", false, Decision::kExclude},
      {"debug[!01].log", "debug1.log", false, Decision::kNone},
      {"debug[^01].log", "debug1.log", false, Decision::kNone},
      {"[[:digit:]]x", "5x", false, Decision::kExclude},
      {"[[:digit:]]x", "ax", false, Decision::kNone},
      {"a?b", "a/b", false, Decision::kNone},
      // An unclosed bracket is a literal '['.
      {"[abc", "[abc", false, Decision::kExclude},
      // Negation: the last matching pattern wins.
      {"*.log\n!keep.log", "keep.log", false, Decision::kInclude},
      {"*.log\n!keep.log", "other.log", false, Decision::kExclude},
      {"!keep.log\n*.log", "keep.log", false, Decision::kExclude},
      // Comments, blank lines, escapes and trailing spaces.
      {"# *.txt\n\n", "a.txt", false, Decision::kNone},
      {"\\#file", "#file", false, Decision::kExclude},
      {"\\!important", "!important", false, Decision::kExclude},
      {"foo   ", "foo", false, Decision::kExclude},
      {"foo\\ ", "foo ", false, Decision::kExclude},
      {"foo\\ ", "foo", false, Decision::kNone},
      // CRLF ignore files.
      {"*.tmp\r\n!a.tmp\r\n", "a.tmp", false, Decision::kInclude},
  };
  for (const Row& row : rows) {
    const IgnoreRules rules = IgnoreRules::parse(row.rules);
    EXPECT_EQ(rules.match(row.path, row.is_dir), row.expected)
        << "rules '" << row.rules << "' path '" << row.path << "' dir " << row.is_dir;
  }
}

TEST(IngestIgnoreRules, GlobDetails) {
  EXPECT_TRUE(glob_match("a**b", "axxb"));  // "**" not next to '/' is a plain '*'
  EXPECT_FALSE(glob_match("a**b", "a/b"));
  EXPECT_TRUE(glob_match("**", "a/b/c"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_FALSE(glob_match("*", "a/b"));
  EXPECT_TRUE(glob_match("\\*", "*"));
  EXPECT_FALSE(glob_match("\\*", "x"));
  EXPECT_TRUE(glob_match("[]]", "]"));
  EXPECT_TRUE(glob_match("[a-]", "-"));
  // Backtracking-heavy patterns stay fast (the matcher is O(pattern * path)).
  const std::string path(4000, 'a');
  EXPECT_FALSE(glob_match("*a*a*a*a*a*a*a*a*a*a*a*a*b", path));
}

TEST(IngestIgnoreRules, RulesOfASubfolderOnlySeeItsSubtree) {
  const IgnoreRules rules = IgnoreRules::parse("/build\n*.o", "sub");
  EXPECT_EQ(rules.match("sub/build", true), Decision::kExclude);
  EXPECT_EQ(rules.match("build", true), Decision::kNone);          // outside sub
  EXPECT_EQ(rules.match("sub/x/build", true), Decision::kNone);    // anchored to sub
  EXPECT_EQ(rules.match("sub/x/y.o", false), Decision::kExclude);  // any depth below sub
  EXPECT_EQ(rules.match("subway/y.o", false), Decision::kNone);    // not a prefix match
}

}  // namespace
}  // namespace ragkit::retrieval
