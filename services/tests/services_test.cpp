// Unit tests of the service's building blocks that need no server: request validation, API key
// checks, the generation queue's bounds, routing and the metrics text.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "api_keys.h"
#include "allowed_paths.h"
#include "generation_queue.h"
#include "http_error.h"
#include "json_request.h"
#include "metrics.h"
#include "router.h"

namespace ragkit::services {
namespace {

using Clock = std::chrono::steady_clock;

int status_of(const std::function<void()>& fn, std::string* field = nullptr) {
  try {
    fn();
  } catch (const HttpError& e) {
    if (field) *field = e.field();
    return e.status();
  }
  return 200;
}

TEST(JsonRequest, NamesTheFieldOfEveryProblem) {
  const nlohmann::json body = {{"query", "q"}, {"k", 5}, {"bad_k", "5"}, {"t", 0.5}, {"f", 2.0}};
  const JsonRequest r(body);
  EXPECT_EQ(r.required_string("query"), "q");
  EXPECT_EQ(r.integer("k", 1, 1, 10), 5);
  EXPECT_EQ(r.integer("absent", 3, 1, 10), 3);
  EXPECT_EQ(r.integer("f", 1, 1, 10), 2);  // 2.0 is an integer
  std::string field;
  EXPECT_EQ(status_of([&] { r.required_string("missing"); }, &field), 400);
  EXPECT_EQ(field, "missing");
  EXPECT_EQ(status_of([&] { r.integer("bad_k", 1, 1, 10); }, &field), 400);
  EXPECT_EQ(field, "bad_k");
  EXPECT_EQ(status_of([&] { r.integer("k", 1, 6, 10); }, &field), 400);
  EXPECT_EQ(status_of([&] { r.integer("t", 1, 0, 10); }, &field), 400);  // 0.5 is not
  EXPECT_EQ(status_of([&] { r.number("t", 0, 0.6, 1); }, &field), 400);
  EXPECT_EQ(status_of([&] { r.boolean("query", false); }, &field), 400);
  EXPECT_EQ(field, "query");
}

TEST(JsonRequest, RefusesInvalidJsonAndUtf8) {
  EXPECT_EQ(status_of([] { parse_json_object("{"); }), 400);
  EXPECT_EQ(status_of([] { parse_json_object("[]"); }), 400);
  EXPECT_EQ(status_of([] { parse_json_object(""); }), 400);
  EXPECT_EQ(status_of([] { parse_json_object("{\"a\": \"\xc3\x28\"}"); }), 400);
  EXPECT_EQ(status_of([] { parse_json_object("{\"a\": \"caf\xc3\xa9\"}"); }), 200);
}

TEST(ApiKeys, AcceptsOnlyConfiguredBearerKeys) {
  ApiKeys keys({"alpha-1", "beta-2"});
  EXPECT_TRUE(keys.check("Bearer alpha-1"));
  EXPECT_TRUE(keys.check("bearer beta-2"));
  EXPECT_FALSE(keys.check("Bearer alpha-"));
  EXPECT_FALSE(keys.check("Bearer alpha-12"));
  EXPECT_FALSE(keys.check("Basic alpha-1"));
  EXPECT_FALSE(keys.check(""));
  EXPECT_TRUE(ApiKeys({}).check(""));
  EXPECT_TRUE(constant_time_equals("abc", "abc"));
  EXPECT_FALSE(constant_time_equals("abc", "abd"));
  EXPECT_FALSE(constant_time_equals("abc", "abcd"));
}

TEST(GenerationQueue, AdmitsOneGeneratingPlusTheWaitingAndNoMore) {
  GenerationQueue queue(1);
  auto first = queue.try_admit();
  auto second = queue.try_admit();
  ASSERT_TRUE(first && second);
  EXPECT_FALSE(queue.try_admit());  // full: 429
  ASSERT_TRUE(first->wait_turn(Clock::now() + std::chrono::seconds(1)));
  EXPECT_TRUE(queue.generating());
  EXPECT_EQ(queue.waiting(), 1u);
  // The second's turn does not come while the first holds it.
  EXPECT_FALSE(second->wait_turn(Clock::now() + std::chrono::milliseconds(20)));
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    first.reset();
  });
  EXPECT_TRUE(second->wait_turn(Clock::now() + std::chrono::seconds(5)));
  release.join();
  EXPECT_TRUE(queue.try_admit().has_value());  // a place freed up
  second.reset();
  EXPECT_FALSE(queue.generating());
  EXPECT_EQ(queue.waiting(), 0u);
}

TEST(Router, MatchesExactPathsCapturesAndReports405) {
  Router router;
  int called = 0;
  router.add("POST", "/v1/search", [&](Exchange&) { ++called; });
  router.add("GET", "/v1/documents", [&](Exchange&) {});
  router.add("DELETE", "/v1/documents/{path}", [&](Exchange&) {});
  EXPECT_NE(router.match("POST", "/v1/search").route, nullptr);
  RouteMatch wrong = router.match("GET", "/v1/search");
  EXPECT_EQ(wrong.route, nullptr);
  EXPECT_EQ(wrong.allowed, "POST");
  EXPECT_TRUE(router.match("GET", "/v1/nothing").allowed.empty());
  RouteMatch del = router.match("DELETE", "/v1/documents/notes%2Fa%20b.md");
  ASSERT_NE(del.route, nullptr);
  ASSERT_EQ(del.params.size(), 1u);
  EXPECT_EQ(del.params[0], "notes/a b.md");
}

TEST(Metrics, RendersCountersAndCumulativeHistograms) {
  Metrics m;
  m.record_request("/v1/search", 200, 0.003);
  m.record_request("/v1/search", 200, 0.2);
  m.record_request("/v1/search", 400, 0.001);
  m.record_generation(50, 0.5);
  const std::string text = m.render({});
  EXPECT_NE(text.find("ragkit_http_requests_total{endpoint=\"/v1/search\",status=\"200\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("ragkit_http_request_duration_seconds_bucket{endpoint=\"/v1/search\","
                      "le=\"0.005\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("ragkit_http_request_duration_seconds_count{endpoint=\"/v1/search\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("ragkit_generated_tokens_total 50\n"), std::string::npos);
  EXPECT_NE(text.find("ragkit_generation_tokens_per_second 100\n"), std::string::npos);
}

TEST(DocumentNames, RefuseEscapesAndOddCharacters) {
  EXPECT_TRUE(check_document_name("notes/a.md").ok());
  for (const char* bad : {"", "/etc/passwd", "../a.md", "a/../b.md", "a//b.md", "./a.md",
                          "a\\b.md", "a\nb.md"}) {
    EXPECT_FALSE(check_document_name(bad).ok()) << bad;
  }
}

TEST(AllowedPaths, StayInsideTheRootsThroughLinks) {
  namespace fs = std::filesystem;
  const fs::path base = fs::temp_directory_path() / ("ragkit-svc-paths-" + std::to_string(getpid()));
  fs::remove_all(base);
  fs::create_directories(base / "root" / "sub");
  fs::create_directories(base / "outside");
  fs::create_directory_symlink(base / "outside", base / "root" / "link");
  const std::vector<fs::path> roots = {fs::canonical(base / "root")};
  EXPECT_TRUE(resolve_allowed_path((base / "root" / "sub").string(), roots).ok());
  EXPECT_EQ(resolve_allowed_path((base / "root" / "link").string(), roots).status().code(),
            Status::Code::kNotSupported);
  EXPECT_EQ(resolve_allowed_path((base / "outside").string(), roots).status().code(),
            Status::Code::kNotSupported);
  EXPECT_EQ(resolve_allowed_path((base / "root" / ".." / "outside").string(), roots)
                .status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(resolve_allowed_path((base / "root" / "none").string(), roots).status().code(),
            Status::Code::kNotFound);
  EXPECT_EQ(resolve_allowed_path((base / "root").string(), {}).status().code(),
            Status::Code::kNotSupported);
  fs::remove_all(base);
}

}  // namespace
}  // namespace ragkit::services
