#include "ragkit/hub/hub_metadata.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ragkit/hub/model_cache.h"
#include "test_env.h"

namespace ragkit::hub {
namespace {

constexpr const char* kSha256Of1 =
    "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";

std::string write_temp(const std::string& bytes) {
  const std::string path = testing::make_temp_dir("hub-metadata") + "/file";
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

TEST(HubMetadata, ParsesSiblingsWithLfsAndBlobIds) {
  const std::string json = std::string(R"({"sha": "0123456789ABCDEF0123456789abcdef01234567",
    "siblings": [
      {"rfilename": "config.json", "size": 6, "blobId": "ce013625030ba8dba906f756967f9e9ca394464a"},
      {"rfilename": "model.safetensors", "size": 100,
       "blobId": "ce013625030ba8dba906f756967f9e9ca394464a",
       "lfs": {"sha256": ")") +
                           kSha256Of1 + R"(", "size": 6, "pointerSize": 130}}]})";
  Result<RepoInfo> info = parse_repo_info(json, "test");
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_EQ(info->commit, "0123456789abcdef0123456789abcdef01234567");
  ASSERT_EQ(info->files.size(), 2u);
  EXPECT_EQ(info->files[0].digest.kind, HashKind::kGitBlobSha1);
  EXPECT_EQ(info->files[1].digest.kind, HashKind::kSha256);
  EXPECT_EQ(info->files[1].size, 6u);  // lfs.size, not the pointer's
  EXPECT_NE(info->find("config.json"), nullptr);
}

TEST(HubMetadata, RejectsNamesThatEscapeAndMissingHashes) {
  const auto with_name = [](const std::string& name) {
    return R"({"sha": "0123456789abcdef0123456789abcdef01234567", "siblings": [{"rfilename": ")" +
           name + R"(", "size": 1, "blobId": "ce013625030ba8dba906f756967f9e9ca394464a"}]})";
  };
  for (const char* bad : {"../x", "/etc/passwd", "a/../../b", "a\\\\b", "a//b", "dir/"}) {
    Result<RepoInfo> info = parse_repo_info(with_name(bad), "test");
    EXPECT_FALSE(info.ok()) << bad;
  }
  EXPECT_TRUE(parse_repo_info(with_name("1_Pooling/config.json"), "test").ok());
  EXPECT_FALSE(parse_repo_info(R"({"sha": "x", "siblings": []})", "t").ok());
  EXPECT_FALSE(parse_repo_info(R"({"sha": "0123456789abcdef0123456789abcdef01234567",
    "siblings": [{"rfilename": "a", "size": 1}]})",
                               "t")
                   .ok());
  EXPECT_FALSE(parse_repo_info("[1,2", "t").ok());
  EXPECT_FALSE(parse_repo_info(R"({"sha": "0123456789abcdef0123456789abcdef01234567",
    "siblings": [{"rfilename": "a", "size": -1,
                  "blobId": "ce013625030ba8dba906f756967f9e9ca394464a"}]})",
                               "t")
                   .ok());
}

TEST(HubMetadata, DigestsMatchSha256sumAndGitHashObject) {
  const std::string path = write_temp("hello\n");
  // `sha256sum` and `git hash-object` of "hello\n".
  EXPECT_EQ(digest_file(path, HashKind::kSha256)->hex, kSha256Of1);
  EXPECT_EQ(digest_file(path, HashKind::kGitBlobSha1)->hex,
            "ce013625030ba8dba906f756967f9e9ca394464a");
  RepoFile expected{"hello.txt", 6, {HashKind::kSha256, kSha256Of1}};
  EXPECT_TRUE(verify_file(path, expected).ok());
  expected.digest.hex[0] = '0';
  Status wrong = verify_file(path, expected);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.message().find("hello.txt"), std::string::npos) << wrong.message();
  EXPECT_NE(wrong.message().find(kSha256Of1), std::string::npos) << wrong.message();
  expected.size = 7;
  EXPECT_NE(verify_file(path, expected).message().find("6 bytes, expected 7"), std::string::npos);
}

RepoInfo info_with(std::initializer_list<const char*> names) {
  RepoInfo info;
  info.commit = std::string(40, 'a');
  for (const char* name : names) info.files.push_back({name, 1, {HashKind::kSha256, "00"}});
  return info;
}

std::vector<std::string> paths(const std::vector<RepoFile>& files) {
  std::vector<std::string> out;
  for (const RepoFile& f : files) out.push_back(f.path);
  return out;
}

TEST(ModelFiles, PicksConfigTokenizerSentenceTransformersAndSafetensors) {
  const RepoInfo info =
      info_with({"README.md", "config.json", "model.safetensors", "pytorch_model.bin",
                 "onnx/model.onnx", "tokenizer.json", "vocab.txt", "modules.json",
                 "1_Pooling/config.json", "2_Normalize/config.json", "tokenizer.model"});
  Result<std::vector<RepoFile>> files = select_model_files(info, {});
  ASSERT_TRUE(files.ok()) << files.status().to_string();
  EXPECT_EQ(paths(*files),
            (std::vector<std::string>{"config.json", "model.safetensors", "tokenizer.json",
                                      "vocab.txt", "modules.json", "1_Pooling/config.json",
                                      "2_Normalize/config.json", "tokenizer.model"}));
}

TEST(ModelFiles, PicksShardsWithTheirIndex) {
  const RepoInfo info =
      info_with({"config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors",
                 "model-00002-of-00002.safetensors", "tokenizer.json"});
  Result<std::vector<RepoFile>> files = select_model_files(info, {});
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(files->size(), 5u);
}

TEST(ModelFiles, GgufNeedsAPatternAndEveryPatternMustMatch) {
  const RepoInfo info = info_with({"README.md", "m-Q4_K_M.gguf", "m-Q8_0.gguf"});
  Result<std::vector<RepoFile>> none = select_model_files(info, {});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("--file"), std::string::npos);
  EXPECT_NE(none.status().message().find("m-Q8_0.gguf"), std::string::npos);
  Result<std::vector<RepoFile>> q8 = select_model_files(info, {"*q8_0.gguf"});  // any case
  ASSERT_TRUE(q8.ok()) << q8.status().to_string();
  EXPECT_EQ(paths(*q8), std::vector<std::string>{"m-Q8_0.gguf"});
  Result<std::vector<RepoFile>> absent = select_model_files(info, {"*Q8_0.gguf", "*f16.gguf"});
  ASSERT_FALSE(absent.ok());
  EXPECT_NE(absent.status().message().find("*f16.gguf"), std::string::npos);
}

TEST(ModelFiles, RepoNamesAndKnownModels) {
  EXPECT_EQ(model_name_for_repo("sentence-transformers/all-MiniLM-L6-v2"), "all-MiniLM-L6-v2");
  EXPECT_TRUE(is_repo_id("BAAI/bge-small-en-v1.5"));
  for (const char* bad : {"name", "a/b/c", "../x", "a/..", "/abs", "a b/c", ""}) {
    EXPECT_FALSE(is_repo_id(bad)) << bad;
  }
  ASSERT_NE(find_known_model("SmolLM2-135M-Instruct"), nullptr);
  EXPECT_EQ(find_known_model("bge-small-en-v1.5")->repo, "BAAI/bge-small-en-v1.5");
  EXPECT_EQ(find_known_model("nope"), nullptr);
}

TEST(ModelFiles, AGgufFolderLoadsThroughItsOnlyGgufFile) {
  namespace fs = std::filesystem;
  const fs::path dir = testing::make_temp_dir("hub-loadable");
  std::ofstream(dir / "m-Q8_0.gguf") << "GGUF";
  EXPECT_EQ(loadable_model_path(dir), dir / "m-Q8_0.gguf");
  std::ofstream(dir / "m-Q4_K_M.gguf") << "GGUF";
  EXPECT_EQ(loadable_model_path(dir), dir) << "two files: the user must choose";
  fs::remove(dir / "m-Q4_K_M.gguf");
  std::ofstream(dir / "config.json") << "{}";
  EXPECT_EQ(loadable_model_path(dir), dir) << "a config.json makes it a Hugging Face folder";
}

}  // namespace
}  // namespace ragkit::hub
