// Chat template tests: real templates of each family (as their models ship them in
// tokenizer_config.json) are recognised, and format_chat() reproduces what they render. The
// expected strings were rendered from these same templates with Python's jinja2 3.1 configured as
// Hugging Face's apply_chat_template configures it (ImmutableSandboxedEnvironment, trim_blocks,
// lstrip_blocks), for one system + user + assistant + user conversation whose assistant turn has
// surrounding whitespace (which some templates trim and others keep).
#include "ragkit/embed/chat_template.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "ragkit/embed/gguf.h"
#include "test_env.h"

namespace ragkit::embed {
namespace {

// Real templates: Qwen2.5-Instruct's without its tool-calling branches; SmolLM2-Instruct's;
// Meta-Llama-3-8B-Instruct's; Mistral-7B-Instruct-v0.2's (Mistral's "v1" template with a system
// message); Llama-2-7b-chat's; gemma-2-2b-it's; Gemma 3's for text-only content; Phi-3-mini-4k-
// instruct's (the 2024-07 revision); zephyr-7b-beta's, which TinyLlama-1.1B-Chat also uses.
constexpr std::string_view kQwen25 = R"JINJA({%- if messages[0]['role'] == 'system' %}
    {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
{%- else %}
    {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
)JINJA";
constexpr std::string_view kSmolLM2 =
    R"JINJA({% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system
You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
' }}{% endif %}{{'<|im_start|>' + message['role'] + '
' + message['content'] + '<|im_end|>' + '
'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant
' }}{% endif %})JINJA";
constexpr std::string_view kLlama3 =
    R"JINJA({% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>

'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>

' }}{% endif %})JINJA";
constexpr std::string_view kMistralV1 = R"JINJA({%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content'] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}
    {%- endif %}
    {%- if message['role'] == 'user' %}
        {%- if loop.first and system_message is defined %}
            {{- ' [INST] ' + system_message + '\n\n' + message['content'] + ' [/INST]' }}
        {%- else %}
            {{- ' [INST] ' + message['content'] + ' [/INST]' }}
        {%- endif %}
    {%- elif message['role'] == 'assistant' %}
        {{- ' ' + message['content'] + eos_token}}
    {%- else %}
        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}
    {%- endif %}
{%- endfor %}
)JINJA";
constexpr std::string_view kLlama2Chat =
    R"JINJA({% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %})JINJA";
constexpr std::string_view kGemma2 =
    R"JINJA({{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '
' + message['content'] | trim + '<end_of_turn>
' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model
'}}{% endif %})JINJA";
constexpr std::string_view kGemma3 = R"JINJA({{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {{- message['content'] | trim -}}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
)JINJA";
constexpr std::string_view kPhi3Mini =
    R"JINJA({% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>
' + message['content'] + '<|end|>
'}}{% elif message['role'] == 'user' %}{{'<|user|>
' + message['content'] + '<|end|>
'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>
' + message['content'] + '<|end|>
'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>
' }}{% else %}{{ eos_token }}{% endif %})JINJA";
constexpr std::string_view kZephyr = R"JINJA({% for message in messages %}
{% if message['role'] == 'user' %}
{{ '<|user|>\n' + message['content'] + eos_token }}
{% elif message['role'] == 'system' %}
{{ '<|system|>\n' + message['content'] + eos_token }}
{% elif message['role'] == 'assistant' %}
{{ '<|assistant|>\n'  + message['content'] + eos_token }}
{% endif %}
{% if loop.last and add_generation_prompt %}
{{ '<|assistant|>' }}
{% endif %}
{% endfor %})JINJA";

const std::vector<ChatMessage> kConversation = {
    {"system", "You are a helpful assistant."},
    {"user", "What is RAG?"},
    {"assistant", " Retrieval-augmented generation.\n"},
    {"user", "Give an example."},
};

std::span<const ChatMessage> without_system() { return std::span(kConversation).subspan(1); }

TEST(ChatTemplateDetect, RealTemplates) {
  EXPECT_EQ(detect_chat_template(kQwen25), ChatTemplateKind::kChatML);
  EXPECT_EQ(detect_chat_template(kSmolLM2), ChatTemplateKind::kChatML);
  EXPECT_EQ(detect_chat_template(kLlama3), ChatTemplateKind::kLlama3);
  EXPECT_EQ(detect_chat_template(kMistralV1), ChatTemplateKind::kMistral);
  EXPECT_EQ(detect_chat_template(kLlama2Chat), ChatTemplateKind::kLlama2);
  EXPECT_EQ(detect_chat_template(kGemma2), ChatTemplateKind::kGemma);
  EXPECT_EQ(detect_chat_template(kGemma3), ChatTemplateKind::kGemma);
  EXPECT_EQ(detect_chat_template(kPhi3Mini), ChatTemplateKind::kPhi3);
  EXPECT_EQ(detect_chat_template(kZephyr), ChatTemplateKind::kZephyr);
}

TEST(ChatTemplateDetect, MarkerVariantsNamesAndFallback) {
  // Mistral v0.1's template: no system message support, no <<SYS>>.
  EXPECT_EQ(
      detect_chat_template("{{ bos_token }}{% for message in messages %}{% if message['role'] "
                           "== 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
                           "{% endif %}{% endfor %}"),
      ChatTemplateKind::kMistral);
  // Zephyr variants spelling the end marker out.
  EXPECT_EQ(detect_chat_template("{{ '<|user|>\\n' + message['content'] + '</s>' }}"),
            ChatTemplateKind::kZephyr);
  EXPECT_EQ(detect_chat_template("{{ '<|user|>\\n' + message['content'] + '<|endoftext|>' }}"),
            ChatTemplateKind::kZephyr);
  // Phi-4 is "<|im_start|>role<|im_sep|>", not ChatML.
  EXPECT_EQ(detect_chat_template("{{'<|im_start|>user<|im_sep|>' + message['content']}}"),
            ChatTemplateKind::kPlain);
  EXPECT_EQ(detect_chat_template(""), ChatTemplateKind::kPlain);
  EXPECT_EQ(detect_chat_template("{{ messages[0]['content'] }}"), ChatTemplateKind::kPlain);
  EXPECT_EQ(detect_chat_template("gemma"), ChatTemplateKind::kGemma);
  EXPECT_EQ(detect_chat_template("mistral-v1"), ChatTemplateKind::kMistral);
}

TEST(ChatTemplateNames, RoundTripAndAliases) {
  for (ChatTemplateKind kind :
       {ChatTemplateKind::kChatML, ChatTemplateKind::kLlama3, ChatTemplateKind::kMistral,
        ChatTemplateKind::kLlama2, ChatTemplateKind::kGemma, ChatTemplateKind::kPhi3,
        ChatTemplateKind::kZephyr, ChatTemplateKind::kPlain}) {
    auto parsed = parse_chat_template_kind(chat_template_name(kind));
    ASSERT_TRUE(parsed.ok()) << chat_template_name(kind);
    EXPECT_EQ(*parsed, kind);
  }
  EXPECT_EQ(*parse_chat_template_kind("llama2-sys-strip"), ChatTemplateKind::kLlama2);
  auto bad = parse_chat_template_kind("vicuna");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("chatml"), std::string::npos);
}

TEST(ChatTemplateFormat, ChatMLAsQwen25AndSmolLM2) {
  const std::string expected =
      "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
      "<|im_start|>user\nWhat is RAG?<|im_end|>\n"
      "<|im_start|>assistant\n Retrieval-augmented generation.\n<|im_end|>\n"
      "<|im_start|>user\nGive an example.<|im_end|>\n"
      "<|im_start|>assistant\n";
  EXPECT_EQ(format_chat(ChatTemplateKind::kChatML, kConversation, true), expected);
  // ChatML templates write no BOS, whatever the caller passes.
  EXPECT_EQ(format_chat(ChatTemplateKind::kChatML, kConversation, true, "<|endoftext|>"), expected);
  EXPECT_EQ(
      format_chat(ChatTemplateKind::kChatML, kConversation, false),
      expected.substr(0, expected.size() - std::string_view("<|im_start|>assistant\n").size()));
}

TEST(ChatTemplateFormat, Llama3) {
  const std::string body =
      "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>"
      "<|start_header_id|>user<|end_header_id|>\n\nWhat is RAG?<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\nRetrieval-augmented generation.<|eot_id|>"
      "<|start_header_id|>user<|end_header_id|>\n\nGive an example.<|eot_id|>";
  const std::string prompt = "<|start_header_id|>assistant<|end_header_id|>\n\n";
  EXPECT_EQ(format_chat(ChatTemplateKind::kLlama3, kConversation, true, "<|begin_of_text|>"),
            "<|begin_of_text|>" + body + prompt);
  // The tokenizer adds <|begin_of_text|>: no BOS in the text.
  EXPECT_EQ(format_chat(ChatTemplateKind::kLlama3, kConversation, true), body + prompt);
  EXPECT_EQ(format_chat(ChatTemplateKind::kLlama3, kConversation, false), body);
}

TEST(ChatTemplateFormat, MistralV1FoldsTheSystemMessageIntoTheFirstTurn) {
  const std::string expected =
      "<s> [INST] You are a helpful assistant.\n\nWhat is RAG? [/INST]"
      "  Retrieval-augmented generation.\n</s> [INST] Give an example. [/INST]";
  EXPECT_EQ(format_chat(ChatTemplateKind::kMistral, kConversation, true, "<s>"), expected);
  // No generation prompt in this family: the text already ends with [/INST].
  EXPECT_EQ(format_chat(ChatTemplateKind::kMistral, kConversation, false, "<s>"), expected);
  EXPECT_EQ(format_chat(ChatTemplateKind::kMistral, without_system(), true, "<s>"),
            "<s> [INST] What is RAG? [/INST]  Retrieval-augmented generation.\n</s>"
            " [INST] Give an example. [/INST]");
}

TEST(ChatTemplateFormat, Llama2Chat) {
  EXPECT_EQ(format_chat(ChatTemplateKind::kLlama2, kConversation, true, "<s>"),
            "<s>[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\nWhat is RAG? [/INST]"
            " Retrieval-augmented generation. </s><s>[INST] Give an example. [/INST]");
  // BOS left to the tokenizer: the later turns lose theirs (documented).
  EXPECT_EQ(format_chat(ChatTemplateKind::kLlama2, without_system(), true),
            "[INST] What is RAG? [/INST] Retrieval-augmented generation. </s>"
            "[INST] Give an example. [/INST]");
}

TEST(ChatTemplateFormat, GemmaPrependsTheSystemMessageToTheFirstUserTurn) {
  // As Gemma 3's template renders it (Gemma 2's raises an error on a system message).
  const std::string expected =
      "<bos><start_of_turn>user\nYou are a helpful assistant.\n\nWhat is RAG?<end_of_turn>\n"
      "<start_of_turn>model\nRetrieval-augmented generation.<end_of_turn>\n"
      "<start_of_turn>user\nGive an example.<end_of_turn>\n"
      "<start_of_turn>model\n";
  EXPECT_EQ(format_chat(ChatTemplateKind::kGemma, kConversation, true, "<bos>"), expected);
  // Without a system message, as Gemma 2 renders it too.
  EXPECT_EQ(format_chat(ChatTemplateKind::kGemma, without_system(), false, "<bos>"),
            "<bos><start_of_turn>user\nWhat is RAG?<end_of_turn>\n"
            "<start_of_turn>model\nRetrieval-augmented generation.<end_of_turn>\n"
            "<start_of_turn>user\nGive an example.<end_of_turn>\n");
}

TEST(ChatTemplateFormat, Phi3) {
  const std::string body =
      "<|system|>\nYou are a helpful assistant.<|end|>\n"
      "<|user|>\nWhat is RAG?<|end|>\n"
      "<|assistant|>\n Retrieval-augmented generation.\n<|end|>\n"
      "<|user|>\nGive an example.<|end|>\n";
  EXPECT_EQ(format_chat(ChatTemplateKind::kPhi3, kConversation, true), body + "<|assistant|>\n");
  EXPECT_EQ(format_chat(ChatTemplateKind::kPhi3, kConversation, false), body + "<|endoftext|>");
}

TEST(ChatTemplateFormat, Zephyr) {
  const std::string body =
      "<|system|>\nYou are a helpful assistant.</s>\n"
      "<|user|>\nWhat is RAG?</s>\n"
      "<|assistant|>\n Retrieval-augmented generation.\n</s>\n"
      "<|user|>\nGive an example.</s>\n";
  EXPECT_EQ(format_chat(ChatTemplateKind::kZephyr, kConversation, true, "<s>"),
            body + "<|assistant|>\n");
  EXPECT_EQ(format_chat(ChatTemplateKind::kZephyr, kConversation, false), body);
}

TEST(ChatTemplateFormat, Plain) {
  EXPECT_EQ(format_chat(ChatTemplateKind::kPlain, kConversation, true, "<s>"),
            "System: You are a helpful assistant.\n"
            "User: What is RAG?\n"
            "Assistant: Retrieval-augmented generation.\n"
            "User: Give an example.\n"
            "Assistant:");
  const std::vector<ChatMessage> tool = {{"tool", "42"}};
  EXPECT_EQ(format_chat(ChatTemplateKind::kPlain, tool, false), "Tool: 42\n");
}

TEST(ChatTemplateFormat, SystemMessageWithoutAUserTurnIsKept) {
  const std::vector<ChatMessage> only_system = {{"system", "Be brief."}};
  EXPECT_EQ(format_chat(ChatTemplateKind::kGemma, only_system, true),
            "<start_of_turn>user\nBe brief.<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_EQ(format_chat(ChatTemplateKind::kMistral, only_system, true),
            " [INST] Be brief. [/INST]");
}

TEST(ChatTemplateFormat, EmptyConversation) {
  EXPECT_EQ(format_chat(ChatTemplateKind::kChatML, {}, true), "<|im_start|>assistant\n");
  EXPECT_EQ(format_chat(ChatTemplateKind::kPlain, {}, false), "");
}

TEST(ChatTemplateStopStrings, EndOfTurnMarkers) {
  EXPECT_EQ(chat_template_stop_strings(ChatTemplateKind::kChatML),
            std::vector<std::string>{"<|im_end|>"});
  EXPECT_EQ(chat_template_stop_strings(ChatTemplateKind::kLlama3),
            std::vector<std::string>{"<|eot_id|>"});
  EXPECT_EQ(chat_template_stop_strings(ChatTemplateKind::kPlain),
            std::vector<std::string>{"\nUser:"});
}

// The chat template stored in a real GGUF file (llama.cpp's Phi-3 vocabulary test file carries
// Phi-3-mini's first template, which writes bos_token and drops system messages).
TEST(ChatTemplateGguf, Phi3VocabularyFile) {
  const std::string dir = ragkit::testing::tokenizers_dir();
  ASSERT_FALSE(dir.empty());
  auto gguf = GgufFile::open(dir + "/ggml-vocab-phi-3.gguf");
  ASSERT_TRUE(gguf.ok()) << gguf.status().to_string();
  auto jinja = (*gguf)->get_string("tokenizer.chat_template");
  ASSERT_TRUE(jinja.ok()) << jinja.status().to_string();
  EXPECT_EQ(detect_chat_template(*jinja), ChatTemplateKind::kPhi3);
  // Rendered by that template with bos_token "" (the tokenizer adds <s>).
  EXPECT_EQ(format_chat(ChatTemplateKind::kPhi3, without_system(), true),
            "<|user|>\nWhat is RAG?<|end|>\n<|assistant|>\n Retrieval-augmented generation.\n"
            "<|end|>\n<|user|>\nGive an example.<|end|>\n<|assistant|>\n");
}

}  // namespace
}  // namespace ragkit::embed
