// End-to-end: `rag serve` as a client sees it — real HTTP over loopback against the real binary,
// on a small folder indexed by `rag index` with the random-weight all-MiniLM-L6-v2 (dense scores
// mean nothing, BM25 does) and the tiny stories260K generator (its text is nonsense; what is
// checked is the protocol: shapes, streams, sources, limits, errors, concurrency, shutdown).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <future>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "rag_process.h"
#include "random_model.h"
#include "serve_process.h"
#include "test_env.h"

namespace ragkit::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string generator_path() { return models_dir() + "/stories260K/stories260K.gguf"; }

// A folder of a few notes under `base`/notes, indexed into `base`/.ragkit.
struct IndexedFolder {
  std::string base, notes, db;
};

IndexedFolder make_indexed_folder(const std::string& prefix, const std::string& model = "") {
  IndexedFolder f;
  f.base = make_temp_dir(prefix);
  f.notes = f.base + "/notes";
  f.db = f.base + "/.ragkit";
  fs::create_directories(f.notes + "/sub");
  write_whole_file(f.notes + "/rotation.md",
                   "# Key rotation\n\nRotate the signing keys every ninety days. The zebracorn "
                   "procedure replaces the old key after the new one is live.\n");
  write_whole_file(f.notes + "/garden.txt",
                   "The garden needs water every morning. Lily planted tomatoes near the "
                   "quokkafish pond.\n");
  write_whole_file(f.notes + "/sub/deep.md", "# Deep\n\nNotes on capybarology and its methods.\n");
  RunResult r = run_rag({"index", f.notes, "--db", f.db, "--model",
                         model.empty() ? random_minilm_model() : model, "--json"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  return f;
}

std::vector<std::string> result_paths(const json& search) {
  std::vector<std::string> paths;
  for (const auto& r : search["results"]) paths.push_back(r["path"]);
  return paths;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// The value of one Prometheus sample line ("name{labels} value"), -1 when absent.
double metric(const std::string& text, const std::string& sample) {
  const size_t at = text.find("\n" + sample + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + sample.size() + 2));
}

// One server for the tests that do not need their own: started once for the suite.
class ServeCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_FALSE(random_minilm_model().empty());
    folder_ = new IndexedFolder(make_indexed_folder("ragkit-serve-cli"));
    outside_ = new std::string(make_temp_dir("ragkit-serve-outside"));
    write_whole_file(*outside_ + "/secret.txt", "The outside secret is platypod.\n");
    server_ = new ServeProcess({"--db", folder_->db, "--generator", generator_path(),
                                "--allow-root", folder_->notes, "--http-threads", "8"});
  }
  static void TearDownTestSuite() {
    delete server_;
    delete folder_;
    delete outside_;
  }
  void SetUp() override { ASSERT_NE(server_->port(), 0); }

  static int port() { return server_->port(); }
  static json search(const json& body) {
    HttpReply r = http_post(port(), "/v1/search", body);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json();
  }

  static IndexedFolder* folder_;
  static std::string* outside_;
  static ServeProcess* server_;
};
IndexedFolder* ServeCli::folder_ = nullptr;
std::string* ServeCli::outside_ = nullptr;
ServeProcess* ServeCli::server_ = nullptr;

TEST_F(ServeCli, HealthModelsAndTheWebPage) {
  json health = http_request(port(), "GET", "/health").json();
  EXPECT_EQ(health["status"], "ok");
  EXPECT_GE(health["documents"].get<int>(), 3);
  EXPECT_GE(health["chunks"].get<int>(), 3);
  EXPECT_EQ(health["generator"], true);
  EXPECT_EQ(health["dense"], true);

  json models = http_request(port(), "GET", "/v1/models").json();
  EXPECT_EQ(models["object"], "list");
  ASSERT_EQ(models["data"].size(), 2u) << models.dump();
  EXPECT_EQ(models["data"][1]["id"], "stories260K");
  for (const auto& m : models["data"]) {
    EXPECT_EQ(m["object"], "model");
    EXPECT_EQ(m["owned_by"], "ragkit");
  }

  HttpReply page = http_request(port(), "GET", "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.headers["content-type"], "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("<html"), std::string::npos);
}

TEST_F(ServeCli, SearchesInEachModeWithThePathFilter) {
  json lexical = search({{"query", "zebracorn procedure"}, {"mode", "lexical"}, {"k", 2}});
  ASSERT_FALSE(lexical["results"].empty()) << lexical.dump();
  EXPECT_EQ(lexical["results"][0]["path"], "notes/rotation.md");
  EXPECT_EQ(lexical["results"][0]["rank"], 1);
  EXPECT_NE(lexical["results"][0]["text"].get<std::string>().find("zebracorn"), std::string::npos);
  EXPECT_EQ(lexical["results"][0]["heading"], "Key rotation");
  EXPECT_LE(lexical["results"].size(), 2u);

  // A chunk's own text embeds to its own vector, so dense search finds it first.
  const std::string chunk_text = lexical["results"][0]["text"];
  json dense = search({{"query", chunk_text}, {"mode", "dense"}});
  ASSERT_FALSE(dense["results"].empty());
  EXPECT_EQ(dense["results"][0]["path"], "notes/rotation.md");

  json hybrid = search({{"query", "zebracorn procedure"}});  // the default mode
  ASSERT_FALSE(hybrid["results"].empty());
  EXPECT_EQ(hybrid["results"][0]["path"], "notes/rotation.md");
  EXPECT_TRUE(hybrid["results"][0].contains("lexical_rank")) << hybrid.dump();
  EXPECT_TRUE(hybrid["results"][0].contains("dense_score"));

  json filtered = search({{"query", "notes methods capybarology zebracorn"},
                          {"mode", "lexical"},
                          {"path", "notes/sub/*"}});
  ASSERT_FALSE(filtered["results"].empty());
  for (const auto& p : result_paths(filtered)) EXPECT_EQ(p.rfind("notes/sub/", 0), 0u) << p;
}

TEST_F(ServeCli, AsksAndGetsAnAnswerWithSources) {
  HttpReply r = http_post(port(), "/v1/ask",
                          {{"question", "What does the zebracorn procedure do?"},
                           {"max_tokens", 12},
                           {"temperature", 0}});
  ASSERT_EQ(r.status, 200) << r.body;
  json answer = r.json();
  EXPECT_EQ(answer["kind"], "generated") << answer.dump(2);
  EXPECT_FALSE(answer["answer"].get<std::string>().empty());
  ASSERT_FALSE(answer["sources"].empty());
  EXPECT_EQ(answer["sources"][0]["n"], 1);
  EXPECT_EQ(answer["sources"][0]["path"], "notes/rotation.md");
  EXPECT_LE(answer["completion_tokens"].get<int>(), 12);
  EXPECT_GT(answer["prompt_tokens"].get<int>(), 0);
}

TEST_F(ServeCli, StreamsAnAnswerThenItsSources) {
  SseReply r = http_sse(port(), "/v1/ask",
                        {{"question", "zebracorn procedure keys"},
                         {"max_tokens", 16},
                         {"temperature", 0},
                         {"stream", true}});
  ASSERT_EQ(r.status, 200) << r.error_body;
  ASSERT_GE(r.events.size(), 3u);
  std::string streamed;
  size_t deltas = 0;
  for (const auto& e : r.events) {
    if (!e.event.empty() || e.data == "[DONE]") break;
    streamed += json::parse(e.data)["delta"].get<std::string>();
    ++deltas;
  }
  EXPECT_GE(deltas, 1u);
  const SseEvent& sources = r.events[r.events.size() - 2];
  EXPECT_EQ(sources.event, "sources");
  json answer = json::parse(sources.data);
  // The deltas add up to the answer exactly.
  EXPECT_EQ(streamed, answer["answer"].get<std::string>());
  ASSERT_FALSE(answer["sources"].empty());
  EXPECT_EQ(answer["sources"][0]["path"], "notes/rotation.md");
  EXPECT_EQ(r.events.back().data, "[DONE]");
  EXPECT_TRUE(r.ended_cleanly);
}

TEST_F(ServeCli, UploadsListsAndDeletesADocument) {
  HttpReply up = http_post(port(), "/v1/documents",
                           {{"name", "uploads/wombat.md"},
                            {"text", "# Wombats\n\nThe wombatine burrow has three exits.\n"}});
  ASSERT_EQ(up.status, 200) << up.body;
  EXPECT_EQ(up.json()["added"], 1) << up.body;
  EXPECT_GE(up.json()["chunks"].get<int>(), 1);

  json found = search({{"query", "wombatine burrow"}, {"mode", "lexical"}});
  EXPECT_TRUE(contains(result_paths(found), "uploads/wombat.md")) << found.dump();

  json listed = http_request(port(), "GET", "/v1/documents").json();
  bool listed_it = false;
  for (const auto& d : listed["documents"]) {
    if (d["path"] == "uploads/wombat.md") {
      listed_it = true;
      EXPECT_EQ(d["type"], "md");
      EXPECT_EQ(d["title"], "Wombats");
    }
  }
  EXPECT_TRUE(listed_it) << listed.dump();

  // The same text again changes nothing; new text replaces it.
  HttpReply again = http_post(port(), "/v1/documents",
                              {{"name", "uploads/wombat.md"},
                               {"text", "# Wombats\n\nThe wombatine burrow has three exits.\n"}});
  EXPECT_EQ(again.json()["unchanged"], 1) << again.body;

  HttpReply deleted = http_request(port(), "DELETE", "/v1/documents/uploads%2Fwombat.md");
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(deleted.json()["deleted"], "uploads/wombat.md");
  json gone = search({{"query", "wombatine burrow"}, {"mode", "lexical"}});
  EXPECT_FALSE(contains(result_paths(gone), "uploads/wombat.md")) << gone.dump();
  EXPECT_EQ(http_request(port(), "DELETE", "/v1/documents/uploads/wombat.md").status, 404);
}

TEST_F(ServeCli, IndexesAPathUnderTheAllowedRoot) {
  const std::string dir = folder_->notes + "/added";
  fs::create_directories(dir);
  write_whole_file(dir + "/otter.txt", "Otters hold hands while they sleep, said the narwhalo.\n");
  HttpReply r = http_post(port(), "/v1/documents", {{"path", dir}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["added"], 1) << r.body;
  json found = search({{"query", "narwhalo otters"}, {"mode", "lexical"}});
  EXPECT_TRUE(contains(result_paths(found), "notes/added/otter.txt")) << found.dump();

  // One file works too.
  write_whole_file(dir + "/heron.md", "Herons wait for the fish called glimmerfin.\n");
  HttpReply one = http_post(port(), "/v1/documents", {{"path", dir + "/heron.md"}});
  ASSERT_EQ(one.status, 200) << one.body;
  json heron = search({{"query", "glimmerfin"}, {"mode", "lexical"}});
  EXPECT_TRUE(contains(result_paths(heron), "notes/added/heron.md")) << heron.dump();
}

TEST_F(ServeCli, RefusesPathsThatEscapeTheRoot) {
  const std::string link = folder_->notes + "/escape";
  fs::create_directory_symlink(*outside_, link);
  for (const std::string& path :
       {folder_->notes + "/../notes/../../", *outside_, *outside_ + "/secret.txt", link,
        link + "/secret.txt", std::string("/etc")}) {
    HttpReply r = http_post(port(), "/v1/documents", {{"path", path}});
    EXPECT_EQ(r.status, 403) << path << ": " << r.body;
    EXPECT_EQ(r.json()["error"]["field"], "path") << r.body;
  }
  fs::remove(link);
  json found = search({{"query", "platypod secret"}, {"mode", "lexical"}});
  for (const auto& p : result_paths(found)) EXPECT_EQ(p.find("secret"), std::string::npos) << p;
}

TEST_F(ServeCli, EmbeddingsAreUnitVectorsOfTheModel) {
  HttpReply r = http_post(port(), "/v1/embeddings",
                          {{"input", {"How do I rotate keys?", "Water the garden"}},
                           {"model", "all-MiniLM-L6-v2"}});
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.json();
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(j["data"][i]["object"], "embedding");
    EXPECT_EQ(j["data"][i]["index"], i);
    const auto v = j["data"][i]["embedding"].get<std::vector<double>>();
    ASSERT_EQ(v.size(), 384u);
    double norm = 0;
    for (double x : v) norm += x * x;
    EXPECT_NEAR(std::sqrt(norm), 1.0, 1e-3);
  }
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 4);
  EXPECT_EQ(j["usage"]["total_tokens"], j["usage"]["prompt_tokens"]);
  HttpReply single = http_post(port(), "/v1/embeddings", {{"input", "one text"}});
  EXPECT_EQ(single.json()["data"].size(), 1u) << single.body;
}

TEST_F(ServeCli, ChatCompletionsPlainStreamedAndGrounded) {
  const json messages = {{{"role", "user"}, {"content", "Once upon a time"}}};
  HttpReply plain = http_post(port(), "/v1/chat/completions",
                              {{"messages", messages}, {"max_tokens", 8}, {"temperature", 0}});
  ASSERT_EQ(plain.status, 200) << plain.body;
  json c = plain.json();
  EXPECT_EQ(c["object"], "chat.completion");
  EXPECT_EQ(c["model"], "stories260K");
  EXPECT_EQ(c["choices"][0]["message"]["role"], "assistant");
  EXPECT_TRUE(c["choices"][0]["message"]["content"].is_string());
  const std::string finish = c["choices"][0]["finish_reason"];
  EXPECT_TRUE(finish == "length" || finish == "stop") << finish;
  EXPECT_LE(c["usage"]["completion_tokens"].get<int>(), 8);
  EXPECT_FALSE(c.contains("sources"));

  SseReply stream = http_sse(port(), "/v1/chat/completions",
                             {{"messages", messages}, {"max_tokens", 8}, {"stream", true}});
  ASSERT_EQ(stream.status, 200) << stream.error_body;
  ASSERT_GE(stream.events.size(), 3u);
  EXPECT_EQ(stream.events.back().data, "[DONE]");
  std::string text;
  for (size_t i = 0; i + 1 < stream.events.size(); ++i) {
    json chunk = json::parse(stream.events[i].data);
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    const json& choice = chunk["choices"][0];
    if (choice["delta"].contains("content")) text += choice["delta"]["content"].get<std::string>();
    if (i + 2 == stream.events.size()) {
      EXPECT_FALSE(choice["finish_reason"].is_null());
    }
  }

  HttpReply grounded = http_post(
      port(), "/v1/chat/completions",
      {{"messages",
        {{{"role", "user"}, {"content", "Hello"}},
         {{"role", "assistant"}, {"content", "Hi."}},
         {{"role", "user"}, {"content", "What does the zebracorn procedure replace?"}}}},
       {"max_tokens", 8},
       {"rag", true}});
  ASSERT_EQ(grounded.status, 200) << grounded.body;
  json g = grounded.json();
  ASSERT_TRUE(g["sources"].is_array()) << g.dump();
  ASSERT_FALSE(g["sources"].empty());
  EXPECT_EQ(g["sources"][0]["path"], "notes/rotation.md");

  SseReply grounded_stream = http_sse(
      port(), "/v1/chat/completions",
      {{"messages", {{{"role", "user"}, {"content", "zebracorn procedure"}}}},
       {"max_tokens", 6},
       {"rag", true},
       {"stream", true}});
  ASSERT_EQ(grounded_stream.status, 200) << grounded_stream.error_body;
  ASSERT_GE(grounded_stream.events.size(), 2u);
  json last = json::parse(grounded_stream.events[grounded_stream.events.size() - 2].data);
  EXPECT_FALSE(last["sources"].empty()) << last.dump();
}

TEST_F(ServeCli, MetricsCountRequests) {
  const std::string sample = R"(ragkit_http_requests_total{endpoint="/v1/search",status="200"})";
  const double before = metric(http_request(port(), "GET", "/metrics").body, sample);
  search({{"query", "garden"}});
  search({{"query", "garden"}});
  // A request is counted when its handler returns, just after the client has its answer: wait
  // for the count rather than race it.
  HttpReply after;
  for (int attempt = 0; attempt < 100; ++attempt) {
    after = http_request(port(), "GET", "/metrics");
    if (metric(after.body, sample) >= std::max(before, 0.0) + 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(after.status, 200);
  EXPECT_NE(after.headers["content-type"].find("text/plain"), std::string::npos);
  EXPECT_EQ(metric(after.body, sample), std::max(before, 0.0) + 2) << after.body;
  EXPECT_GE(metric(after.body,
                   R"(ragkit_http_request_duration_seconds_count{endpoint="/v1/search"})"),
            2);
  EXPECT_GE(metric(after.body, "ragkit_generation_queue_depth"), 0);
  EXPECT_GE(metric(after.body, "ragkit_http_requests_in_flight"), 1);  // this request
  EXPECT_GE(metric(after.body, "ragkit_generated_tokens_total"), 0);
  EXPECT_NE(after.body.find("ragkit_generation_tokens_per_second"), std::string::npos);
}

TEST_F(ServeCli, RejectsBadRequestsNamingTheField) {
  auto expect_error = [&](const HttpReply& r, int status, const std::string& field) {
    EXPECT_EQ(r.status, status) << r.body;
    json j = r.json();
    ASSERT_TRUE(j.contains("error")) << r.body;
    EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
    if (!field.empty()) {
      EXPECT_EQ(j["error"]["field"], field) << r.body;
      EXPECT_NE(j["error"]["message"].get<std::string>().find(field), std::string::npos) << r.body;
    }
  };
  expect_error(http_request(port(), "POST", "/v1/search", "{\"query\": "), 400, "");
  expect_error(http_request(port(), "POST", "/v1/search", "[1, 2]"), 400, "");
  expect_error(http_post(port(), "/v1/search", {{"k", 3}}), 400, "query");
  expect_error(http_post(port(), "/v1/search", {{"query", 7}}), 400, "query");
  expect_error(http_post(port(), "/v1/search", {{"query", "x"}, {"k", "5"}}), 400, "k");
  expect_error(http_post(port(), "/v1/search", {{"query", "x"}, {"k", 0}}), 400, "k");
  expect_error(http_post(port(), "/v1/search", {{"query", "x"}, {"mode", "fuzzy"}}), 400, "mode");
  expect_error(http_post(port(), "/v1/ask", {{"question", "x"}, {"temperature", -1}}), 400,
               "temperature");
  expect_error(http_post(port(), "/v1/chat/completions", {{"messages", "hi"}}), 400, "messages");
  expect_error(http_post(port(), "/v1/embeddings", {{"input", {1, 2}}}), 400, "input");
  expect_error(http_post(port(), "/v1/documents", {{"name", "../x.md"}, {"text", "t"}}), 400,
               "name");
  // Invalid UTF-8 inside a string.
  expect_error(http_request(port(), "POST", "/v1/search", "{\"query\": \"a\xff\xfe\"}"), 400, "");

  expect_error(http_request(port(), "GET", "/v1/nothing"), 404, "");
  HttpReply wrong_method = http_request(port(), "GET", "/v1/search");
  expect_error(wrong_method, 405, "");
  EXPECT_EQ(wrong_method.headers["allow"], "POST");

  expect_error(http_request_declaring_body(port(), "POST", "/v1/search", 2 << 20), 413, "");
  // The server still answers afterwards.
  EXPECT_EQ(http_request(port(), "GET", "/health").status, 200);
}

TEST_F(ServeCli, SearchesGoOnWhileAnAnswerStreamsAndAFolderIsIndexed) {
  // An answer streaming: searches complete between its tokens.
  std::atomic<bool> streaming{false}, stream_done{false};
  auto ask = std::async(std::launch::async, [&] {
    SseReply r = http_sse(port(), "/v1/ask",
                          {{"question", "zebracorn procedure"}, {"max_tokens", 200},
                           {"stream", true}},
                          [&](const SseEvent&) {
                            streaming = true;
                            return true;
                          });
    stream_done = true;
    return r;
  });
  while (!streaming && !stream_done) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  int during_stream = 0;
  while (!stream_done && during_stream < 20) {
    json s = search({{"query", "garden water"}, {"mode", "hybrid"}});
    EXPECT_FALSE(s["results"].empty());
    if (!stream_done) ++during_stream;
  }
  SseReply answer = ask.get();
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.events.back().data, "[DONE]");
  EXPECT_GE(during_stream, 1) << "no search finished while the answer streamed";

  // A folder being indexed: searches complete before the indexing request returns.
  const std::string bulk = folder_->notes + "/bulk";
  fs::create_directories(bulk);
  for (int i = 0; i < 150; ++i) {
    std::string text;
    for (int s = 0; s < 6; ++s) {
      text += "Bulk note " + std::to_string(i) + " sentence " + std::to_string(s) +
              " talks about harbour logistics and tide tables. ";
    }
    write_whole_file(bulk + "/note" + std::to_string(i) + ".txt", text);
  }
  std::atomic<bool> indexed{false};
  auto index = std::async(std::launch::async, [&] {
    HttpReply r = http_post(port(), "/v1/documents", {{"path", bulk}});
    indexed = true;
    return r;
  });
  int during_index = 0;
  while (!indexed && during_index < 50) {
    json s = search({{"query", "zebracorn"}, {"mode", "lexical"}});
    EXPECT_FALSE(s["results"].empty());
    if (!indexed) ++during_index;
  }
  HttpReply r = index.get();
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["added"], 150);
  EXPECT_GE(during_index, 1) << "no search finished while the folder was indexed";
}

// A collection indexed with `--model none`: searches are BM25, answers extractive, uploads are
// indexed for words only.
TEST(ServeLexicalOnly, SearchesAnswersAndTakesUploadsWithoutAModel) {
  IndexedFolder f = make_indexed_folder("ragkit-serve-lexical", "none");
  ServeProcess server({"--db", f.db});
  ASSERT_NE(server.port(), 0);
  HttpReply health = http_request(server.port(), "GET", "/health");
  EXPECT_EQ(health.json()["dense"], false) << health.body;
  HttpReply found = http_post(server.port(), "/v1/search", {{"query", "zebracorn"}});
  ASSERT_EQ(found.status, 200) << found.body;
  EXPECT_EQ(found.json()["results"][0]["path"], "notes/rotation.md");
  EXPECT_EQ(http_post(server.port(), "/v1/search", {{"query", "x"}, {"mode", "dense"}}).status,
            400);
  HttpReply upload = http_post(server.port(), "/v1/documents",
                               {{"name", "notes/new.md"},
                                {"text", "The wombatine schedule runs on Tuesdays."}});
  ASSERT_EQ(upload.status, 200) << upload.body;
  HttpReply uploaded = http_post(server.port(), "/v1/search", {{"query", "wombatine"}});
  ASSERT_EQ(uploaded.status, 200) << uploaded.body;
  EXPECT_EQ(uploaded.json()["results"][0]["path"], "notes/new.md") << uploaded.body;
  HttpReply answer = http_post(server.port(), "/v1/ask", {{"question", "When does the wombatine "
                                                                       "schedule run?"}});
  ASSERT_EQ(answer.status, 200) << answer.body;
  EXPECT_EQ(answer.json()["kind"], "extractive");
  EXPECT_NE(answer.json()["answer"].get<std::string>().find("Tuesdays"), std::string::npos)
      << answer.body;
}

TEST(ServeAuth, RequiresABearerKeyExceptForHealthAndThePage) {
  ASSERT_FALSE(random_minilm_model().empty());
  IndexedFolder f = make_indexed_folder("ragkit-serve-auth");
  write_whole_file(f.base + "/keys", "# API keys\nfirst-key-123\n\n  second-key-456  \n");
  ServeProcess server({"--db", f.db, "--api-key-file", f.base + "/keys"});
  ASSERT_NE(server.port(), 0);
  const json body = {{"query", "zebracorn"}};
  HttpReply missing = http_post(server.port(), "/v1/search", body);
  EXPECT_EQ(missing.status, 401) << missing.body;
  EXPECT_NE(missing.headers["www-authenticate"].find("Bearer"), std::string::npos);
  EXPECT_EQ(missing.json()["error"]["type"], "authentication_error");
  HttpReply wrong = http_post(server.port(), "/v1/search", body,
                              {{"Authorization", "Bearer first-key-124"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(http_post(server.port(), "/v1/search", body,
                      {{"Authorization", "Bearer first-key-123"}})
                .status,
            200);
  EXPECT_EQ(http_post(server.port(), "/v1/search", body,
                      {{"Authorization", "Bearer second-key-456"}})
                .status,
            200);
  // A refused request's body must not be read as the next request on the same connection (the
  // web page retries with the key the user typed on its keep-alive connection).
  const std::vector<HttpReply> retried = http_requests_on_one_connection(
      server.port(), {{"POST", "/v1/search", body.dump(), {}},
                      {"POST", "/v1/search", body.dump(), {{"Authorization", "Bearer first-key-123"}}},
                      {"GET", "/nowhere", "", {{"Authorization", "Bearer first-key-123"}}},
                      {"POST", "/nowhere", body.dump(), {{"Authorization", "Bearer first-key-123"}}},
                      {"POST", "/v1/search", body.dump(), {{"Authorization", "Bearer first-key-123"}}}});
  EXPECT_EQ(retried[0].status, 401) << retried[0].body;
  EXPECT_EQ(retried[1].status, 200) << retried[1].body;
  EXPECT_EQ(retried[2].status, 404) << retried[2].body;
  EXPECT_EQ(retried[3].status, 404) << retried[3].body;
  EXPECT_EQ(retried[4].status, 200) << retried[4].body;
  EXPECT_EQ(http_request(server.port(), "GET", "/metrics").status, 401);
  EXPECT_EQ(http_request(server.port(), "GET", "/health").status, 200);
  EXPECT_EQ(http_request(server.port(), "GET", "/").status, 200);
  // Without a generator: extractive answers, and chat completions need "rag": true.
  HttpReply chat = http_post(server.port(), "/v1/chat/completions",
                             {{"messages", {{{"role", "user"}, {"content", "hi"}}}}},
                             {{"Authorization", "Bearer first-key-123"}});
  EXPECT_EQ(chat.status, 503) << chat.body;
  EXPECT_NE(chat.body.find("--generator"), std::string::npos);
  HttpReply extractive = http_post(server.port(), "/v1/ask",
                                   {{"question", "What does the zebracorn procedure replace?"}},
                                   {{"Authorization", "Bearer first-key-123"}});
  ASSERT_EQ(extractive.status, 200) << extractive.body;
  EXPECT_EQ(extractive.json()["kind"], "extractive") << extractive.body;
}

TEST(ServeQueue, RefusesGenerationsBeyondTheQueueWith429) {
  ASSERT_FALSE(random_minilm_model().empty());
  IndexedFolder f = make_indexed_folder("ragkit-serve-queue");
  ServeProcess server({"--db", f.db, "--generator", generator_path(), "--queue", "0"});
  ASSERT_NE(server.port(), 0);
  std::vector<std::future<HttpReply>> replies;
  for (int i = 0; i < 4; ++i) {
    replies.push_back(std::async(std::launch::async, [&] {
      return http_post(server.port(), "/v1/ask",
                       {{"question", "zebracorn procedure"}, {"max_tokens", 300}});
    }));
  }
  int ok = 0, refused = 0;
  for (auto& f : replies) {
    HttpReply r = f.get();
    if (r.status == 200) ++ok;
    if (r.status == 429) {
      ++refused;
      EXPECT_FALSE(r.headers["retry-after"].empty()) << r.body;
      EXPECT_EQ(r.json()["error"]["type"], "rate_limit_error");
    }
  }
  EXPECT_GE(ok, 1);
  EXPECT_GE(refused, 1);
  EXPECT_EQ(ok + refused, 4);
  // Searches are not generations: never refused.
  EXPECT_EQ(http_post(server.port(), "/v1/search", {{"query", "garden"}}).status, 200);
}

TEST(ServeShutdown, SigtermDrainsAndLeavesTheCollectionUsable) {
  ASSERT_FALSE(random_minilm_model().empty());
  IndexedFolder f = make_indexed_folder("ragkit-serve-shutdown");
  auto server = std::make_unique<ServeProcess>(std::vector<std::string>{
      "--db", f.db, "--generator", generator_path(), "--drain-seconds", "20"});
  ASSERT_NE(server->port(), 0);
  ASSERT_EQ(http_post(server->port(), "/v1/documents",
                      {{"name", "late/upload.md"}, {"text", "The kelpwhistle arrived late.\n"}})
                .status,
            200);
  std::atomic<bool> first_event{false};
  auto ask = std::async(std::launch::async, [&] {
    return http_sse(server->port(), "/v1/ask",
                    {{"question", "zebracorn procedure"}, {"max_tokens", 150}, {"stream", true}},
                    [&](const SseEvent&) {
                      first_event = true;
                      return true;
                    });
  });
  while (!first_event) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const int code = server->stop(SIGTERM, 60);
  EXPECT_EQ(code, 0) << server->stderr_text();
  SseReply r = ask.get();
  EXPECT_EQ(r.status, 200);
  // Finished within the drain period: the whole answer arrived.
  ASSERT_FALSE(r.events.empty());
  EXPECT_EQ(r.events.back().data, "[DONE]");
  EXPECT_NE(server->stderr_text().find("draining"), std::string::npos);

  // The collection opens again and holds what was uploaded.
  RunResult search = run_rag({"search", "kelpwhistle", "--db", f.db, "--mode", "lexical",
                              "--json"});
  ASSERT_EQ(search.exit_code, 0) << describe(search);
  EXPECT_NE(search.out.find("late/upload.md"), std::string::npos) << search.out;
}

}  // namespace
}  // namespace ragkit::testing
