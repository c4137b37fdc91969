// End-to-end test of `rag models`: the built binary pulls a model from a Hub look-alike on
// loopback (tests/support/fake_hub_server.h; HF_ENDPOINT points at it, RAGKIT_MODELS_DIR at a
// temporary cache), then embeds with it by name, lists, describes and removes it. The served
// model is all-MiniLM-L6-v2's real configuration and tokenizer with random weights
// (random_minilm_model()), so the pulled folder must be byte-identical to it and embed alike.
// With RAGKIT_OFFLINE=1 a missing model is an error that says which files to copy where.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fake_hub_server.h"
#include "rag_process.h"
#include "random_model.h"
#include "test_env.h"

namespace ragkit::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kRepo = "sentence-transformers/all-MiniLM-L6-v2";
constexpr const char* kName = "all-MiniLM-L6-v2";

// Sets environment variables (inherited by `rag` children) for one test and restores them.
class ScopedEnv {
 public:
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      if (value) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }
  void set(const std::string& name, const char* value) {
    if (!saved_.count(name)) {
      const char* old = std::getenv(name.c_str());
      saved_[name] = old ? std::optional<std::string>(old) : std::nullopt;
    }
    if (value) {
      ::setenv(name.c_str(), value, 1);
    } else {
      ::unsetenv(name.c_str());
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

// Relative path → bytes of every regular file under `dir`, leaving out `skip`.
std::map<std::string, std::string> tree(const fs::path& dir, const std::string& skip = "") {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string rel = fs::relative(entry.path(), dir).generic_string();
    if (rel != skip) files[rel] = read_whole_file(entry.path().string());
  }
  return files;
}

class ModelsCli : public ::testing::Test {
 protected:
  void SetUp() override {
    served_ = random_minilm_model();  // reads the shared RAGKIT_MODELS_DIR: before the override
    ASSERT_FALSE(served_.empty());
    cache_ = make_temp_dir("rag-models-cache");
    server_.add_repo(kRepo, served_);
    env_.set("RAGKIT_MODELS_DIR", cache_.c_str());
    // The user's own cache is searched too: an empty one keeps the test hermetic.
    env_.set("XDG_CACHE_HOME", make_temp_dir("rag-models-xdg").c_str());
    env_.set("HF_ENDPOINT", server_.endpoint().c_str());
    for (const char* name :
         {"RAGKIT_OFFLINE", "HF_HUB_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"}) {
      env_.set(name, nullptr);
    }
  }

  fs::path model_dir() const { return fs::path(cache_) / kName; }

  std::vector<double> embedding(const std::string& model) {
    RunResult r = run_rag({"embed", "--model", model, "--json", "a pulled model"});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    if (r.exit_code != 0) return {};
    return parse_json(r)["embeddings"][0].get<std::vector<double>>();
  }

  std::string served_, cache_;
  FakeHubServer server_;
  ScopedEnv env_;
};

TEST_F(ModelsCli, PullsListsDescribesEmbedsAndRemoves) {
  RunResult pulled = run_rag({"models", "pull", kRepo, "--json"});
  ASSERT_EQ(pulled.exit_code, 0) << describe(pulled);
  const json p = parse_json(pulled);
  EXPECT_EQ(p["path"], model_dir().string());
  EXPECT_EQ(p["commit"], server_.commit(kRepo));
  EXPECT_EQ(p["skipped"], 0);
  EXPECT_EQ(tree(model_dir(), ".ragkit-source.json"), tree(served_))
      << "the pulled folder differs from the served one";
  bool redirected = false;
  for (const FakeHubRequest& r : server_.requests()) redirected |= r.status == 302;
  EXPECT_TRUE(redirected) << "model.safetensors should have come through the CDN redirect";

  // Found by name in the cache, and the same model as the served folder.
  const std::vector<double> by_name = embedding(kName);
  ASSERT_EQ(by_name.size(), 384u);
  EXPECT_EQ(by_name, embedding(served_));

  RunResult again = run_rag({"models", "pull", kName});
  ASSERT_EQ(again.exit_code, 0) << describe(again);
  EXPECT_NE(again.err.find("model.safetensors is up to date"), std::string::npos) << again.err;
  EXPECT_EQ(again.out, model_dir().string() + "\n");

  RunResult listed = run_rag({"models", "list", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << describe(listed);
  const json l = parse_json(listed);
  ASSERT_EQ(l["models"].size(), 1u) << l.dump();
  EXPECT_EQ(l["models"][0]["name"], kName);
  EXPECT_EQ(l["models"][0]["architecture"], "bert");
  EXPECT_EQ(l["models"][0]["repo"], kRepo);
  EXPECT_EQ(l["models"][0]["dtype"], "F32");
  EXPECT_GT(l["models"][0]["parameters"].get<uint64_t>(), 22'000'000u);
  RunResult table = run_rag({"models", "list"});
  EXPECT_NE(table.out.find(kName), std::string::npos) << describe(table);

  RunResult info = run_rag({"models", "info", kName, "--json"});
  ASSERT_EQ(info.exit_code, 0) << describe(info);
  const json i = parse_json(info);
  EXPECT_EQ(i["architecture"], "bert");
  EXPECT_EQ(i["dimensions"], 384);
  EXPECT_EQ(i["layers"], 6);
  EXPECT_EQ(i["heads"], 12);
  EXPECT_EQ(i["vocab"], 30522);
  EXPECT_EQ(i["tokenizer"], "wordpiece");
  EXPECT_EQ(i["pooling"], "mean");
  EXPECT_EQ(i["source"]["commit"], server_.commit(kRepo));
  RunResult info_text = run_rag({"models", "info", kName});
  EXPECT_NE(info_text.out.find("architecture:"), std::string::npos) << describe(info_text);

  RunResult outside = run_rag({"models", "rm", "../" + fs::path(served_).filename().string()});
  EXPECT_EQ(outside.exit_code, 1) << describe(outside);
  EXPECT_NE(outside.err.find("not a model in the cache"), std::string::npos) << outside.err;
  EXPECT_TRUE(fs::exists(served_));
  RunResult removed = run_rag({"models", "rm", kName});
  ASSERT_EQ(removed.exit_code, 0) << describe(removed);
  EXPECT_FALSE(fs::exists(model_dir()));
}

TEST_F(ModelsCli, OfflineSaysWhichFilesToCopyWhereThenOnlinePullsOnDemand) {
  env_.set("RAGKIT_OFFLINE", "1");
  RunResult offline = run_rag({"embed", "--model", kName, "hello"});
  EXPECT_EQ(offline.exit_code, 1) << describe(offline);
  for (const std::string& needle :
       {std::string("RAGKIT_OFFLINE=1"), model_dir().string() + "/", std::string("config.json"),
        std::string("model.safetensors"), std::string("1_Pooling/config.json")}) {
    EXPECT_NE(offline.err.find(needle), std::string::npos) << needle << "\n" << offline.err;
  }
  EXPECT_TRUE(server_.requests().empty()) << "offline, yet the server was asked";

  env_.set("RAGKIT_OFFLINE", nullptr);
  EXPECT_EQ(embedding(kName).size(), 384u);  // pulled through resolve_model on first use
  EXPECT_TRUE(fs::exists(model_dir() / "model.safetensors"));
}

TEST_F(ModelsCli, AnInterruptedPullResumesOnNextUse) {
  RunResult pulled = run_rag({"models", "pull", kName});
  ASSERT_EQ(pulled.exit_code, 0) << describe(pulled);
  // As a pull killed mid-download leaves it: the weights' first bytes in a .part file.
  const fs::path weights = model_dir() / "model.safetensors";
  const std::string bytes = read_whole_file(weights.string());
  fs::remove(weights);
  write_whole_file(weights.string() + ".part", bytes.substr(0, 1000));
  server_.clear_requests();

  EXPECT_EQ(embedding(kName).size(), 384u);
  EXPECT_EQ(read_whole_file(weights.string()), bytes);
  EXPECT_FALSE(fs::exists(weights.string() + ".part"));
  bool resumed = false;
  for (const FakeHubRequest& r : server_.requests()) {
    resumed |= r.range == "bytes=1000-" && r.status == 206;
  }
  EXPECT_TRUE(resumed) << "the download did not resume from byte 1000";
}

TEST_F(ModelsCli, ReportsMissingReposAndRejectedTokens) {
  RunResult missing = run_rag({"models", "pull", "nobody/nothing"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("nobody/nothing"), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find("404"), std::string::npos) << missing.err;

  server_.require_token("hf_e2e");
  RunResult refused = run_rag({"models", "pull", kRepo});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("HF_TOKEN"), std::string::npos) << refused.err;
  EXPECT_FALSE(fs::exists(model_dir() / "model.safetensors"));
  env_.set("HF_TOKEN", "hf_e2e");
  RunResult allowed = run_rag({"models", "pull", kRepo});
  EXPECT_EQ(allowed.exit_code, 0) << describe(allowed);
}

}  // namespace
}  // namespace ragkit::testing
