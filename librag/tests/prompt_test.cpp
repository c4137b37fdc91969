#include "ragkit/rag/prompt.h"

#include <gtest/gtest.h>

#include <fstream>

#include "test_env.h"

namespace ragkit::rag {
namespace {

Passage sample() {
  Passage p;
  p.path = "docs/keys.md";
  p.text = "Rotate keys with {question} literally in the text.";
  p.location.line_begin = 3;
  p.location.line_end = 9;
  p.location.page = 2;
  p.location.heading_path = "Ops > Keys";
  return p;
}

TEST(Prompt, SourcesAreNumberedAndPlaceholdersExpandOnce) {
  PromptTemplate t;
  t.source = "<{n}|{path}|{location}|{heading}|{text}|{unknown}>";
  t.user = "{sources}Q: {question}";
  const std::vector<Passage> sources = {sample(), sample()};
  const std::string user = render_user_turn(t, sources, "how?");
  EXPECT_EQ(user,
            "<1|docs/keys.md|docs/keys.md:3-9 (page 2)|Ops > Keys|Rotate keys with {question} "
            "literally in the text.|{unknown}>\n"
            "<2|docs/keys.md|docs/keys.md:3-9 (page 2)|Ops > Keys|Rotate keys with {question} "
            "literally in the text.|{unknown}>Q: how?");
}

TEST(Prompt, MessagesAreSystemHistoryThenTheQuestionWithSources) {
  PromptTemplate t;
  const std::vector<embed::ChatMessage> history = {{"user", "hi"}, {"assistant", "hello"}};
  const std::vector<Passage> sources = {sample()};
  const auto m = build_messages(t, history, sources, "How do I rotate keys?");
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].role, "system");
  EXPECT_EQ(m[0].content, t.system);
  EXPECT_EQ(m[1].content, "hi");
  EXPECT_EQ(m[3].role, "user");
  EXPECT_NE(m[3].content.find("[1] docs/keys.md:3-9 (page 2)\nRotate keys"), std::string::npos);
  EXPECT_NE(m[3].content.find("Question: How do I rotate keys?"), std::string::npos);
}

TEST(Prompt, TemplateFilesOverrideSomeKeysAndReportMistakes) {
  const std::string dir = testing::make_temp_dir("prompt");
  const auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name) << text;
    return dir + "/" + name;
  };
  auto ok = load_prompt_template(write("a.json", R"({"system": "Be brief."})"));
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->system, "Be brief.");
  EXPECT_EQ(ok->user, PromptTemplate().user);
  auto bad_type = load_prompt_template(write("b.json", R"({"user": 3})"));
  ASSERT_FALSE(bad_type.ok());
  EXPECT_NE(bad_type.status().message().find("\"user\" must be a string"), std::string::npos);
  auto unknown = load_prompt_template(write("c.json", R"({"sytem": "x"})"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("unknown key \"sytem\""), std::string::npos);
  EXPECT_FALSE(load_prompt_template(write("d.json", "not json")).ok());
  EXPECT_FALSE(load_prompt_template(dir + "/missing.json").ok());
}

}  // namespace
}  // namespace ragkit::rag
