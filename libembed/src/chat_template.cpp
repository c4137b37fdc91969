#include "ragkit/embed/chat_template.h"

#include <cctype>
#include <string>

namespace ragkit::embed {
namespace {

// Jinja's `trim` filter and Python's str.strip() without arguments, for ASCII whitespace (Python
// also strips Unicode spaces such as U+00A0; chat contents rarely begin or end with those).
std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\r\f\v";
  const size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  const size_t end = s.find_last_not_of(kSpace);
  return s.substr(begin, end - begin + 1);
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// The families without a system role fold system messages into the next user turn; several in a
// row are joined by a blank line.
void hold_system(std::string& held, std::string_view content) {
  if (!held.empty()) held += "\n\n";
  held += content;
}

void format_chatml(std::span<const ChatMessage> messages, bool add_generation_prompt,
                   std::string& out) {
  for (const ChatMessage& m : messages) {
    out += "<|im_start|>";
    out += m.role;
    out += '\n';
    out += m.content;
    out += "<|im_end|>\n";
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
}

void format_llama3(std::span<const ChatMessage> messages, bool add_generation_prompt,
                   std::string_view bos_text, std::string& out) {
  out += bos_text;
  for (const ChatMessage& m : messages) {
    out += "<|start_header_id|>";
    out += m.role;
    out += "<|end_header_id|>\n\n";
    out += trim(m.content);
    out += "<|eot_id|>";
  }
  if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
}

// Mistral's "v1" template: bos, then " [INST] " + [system + "\n\n"] + user + " [/INST]" and
// " " + assistant + eos per turn. No generation prompt: the text ends with "[/INST]".
void format_mistral(std::span<const ChatMessage> messages, std::string_view bos_text,
                    std::string& out) {
  out += bos_text;
  std::string system;
  const auto user_turn = [&](std::string_view content) {
    out += " [INST] ";
    if (!system.empty()) {
      out += system;
      out += "\n\n";
      system.clear();
    }
    out += content;
    out += " [/INST]";
  };
  for (const ChatMessage& m : messages) {
    if (m.role == "system") {
      hold_system(system, m.content);
    } else if (m.role == "assistant") {
      out += ' ';
      out += m.content;
      out += "</s>";
    } else {
      user_turn(m.content);
    }
  }
  // A system message with no user turn after it: a turn of its own rather than lost.
  if (!system.empty()) {
    std::string last;
    last.swap(system);
    user_turn(last);
  }
}

// Llama-2-chat: bos + "[INST] " + strip([<<SYS>> block +] user) + " [/INST]" per user turn,
// " " + strip(assistant) + " " + eos per assistant turn.
void format_llama2(std::span<const ChatMessage> messages, std::string_view bos_text,
                   std::string& out) {
  std::string system;
  std::string content;
  const auto user_turn = [&](std::string_view text) {
    content.clear();
    if (!system.empty()) {
      content += "<<SYS>>\n";
      content += system;
      content += "\n<</SYS>>\n\n";
      system.clear();
    }
    content += text;
    out += bos_text;
    out += "[INST] ";
    out += trim(content);
    out += " [/INST]";
  };
  for (const ChatMessage& m : messages) {
    if (m.role == "system") {
      hold_system(system, m.content);
    } else if (m.role == "assistant") {
      out += ' ';
      out += trim(m.content);
      out += " </s>";
    } else {
      user_turn(m.content);
    }
  }
  if (!system.empty()) {
    std::string last;
    last.swap(system);
    user_turn(last);
  }
}

void format_gemma(std::span<const ChatMessage> messages, bool add_generation_prompt,
                  std::string_view bos_text, std::string& out) {
  out += bos_text;
  std::string system;
  const auto turn = [&](std::string_view role, std::string_view content) {
    out += "<start_of_turn>";
    out += role;
    out += '\n';
    if (!system.empty() && role != "model") {
      out += system;
      out += "\n\n";
      system.clear();
    }
    out += trim(content);
    out += "<end_of_turn>\n";
  };
  for (const ChatMessage& m : messages) {
    if (m.role == "system") {
      hold_system(system, trim(m.content));
    } else {
      turn(m.role == "assistant" ? std::string_view("model") : std::string_view(m.role), m.content);
    }
  }
  if (!system.empty()) {
    std::string last;
    last.swap(system);
    turn("user", last);
  }
  if (add_generation_prompt) out += "<start_of_turn>model\n";
}

// Phi-3 and Zephyr: "<|role|>\n" + content + end marker + "\n".
void format_role_tags(std::span<const ChatMessage> messages, std::string_view end_of_message,
                      std::string& out) {
  for (const ChatMessage& m : messages) {
    out += "<|";
    out += m.role;
    out += "|>\n";
    out += m.content;
    out += end_of_message;
    out += '\n';
  }
}

void format_plain(std::span<const ChatMessage> messages, bool add_generation_prompt,
                  std::string& out) {
  for (const ChatMessage& m : messages) {
    if (m.role == "system") {
      out += "System";
    } else if (m.role == "user") {
      out += "User";
    } else if (m.role == "assistant") {
      out += "Assistant";
    } else if (!m.role.empty()) {
      out += static_cast<char>(std::toupper(static_cast<unsigned char>(m.role[0])));
      out.append(m.role, 1);
    }
    out += ": ";
    out += trim(m.content);
    out += '\n';
  }
  if (add_generation_prompt) out += "Assistant:";
}

struct NamedKind {
  std::string_view name;
  ChatTemplateKind kind;
};

// Our names first (chat_template_name() returns them), then llama.cpp's for the same formats.
constexpr NamedKind kNames[] = {
    {"chatml", ChatTemplateKind::kChatML},
    {"llama3", ChatTemplateKind::kLlama3},
    {"mistral", ChatTemplateKind::kMistral},
    {"llama2", ChatTemplateKind::kLlama2},
    {"gemma", ChatTemplateKind::kGemma},
    {"phi3", ChatTemplateKind::kPhi3},
    {"zephyr", ChatTemplateKind::kZephyr},
    {"plain", ChatTemplateKind::kPlain},
    {"mistral-v1", ChatTemplateKind::kMistral},
    {"mistral-v3", ChatTemplateKind::kMistral},
    {"mistral-v3-tekken", ChatTemplateKind::kMistral},
    {"mistral-v7", ChatTemplateKind::kMistral},
    {"mistral-v7-tekken", ChatTemplateKind::kMistral},
    {"llama2-sys", ChatTemplateKind::kLlama2},
    {"llama2-sys-bos", ChatTemplateKind::kLlama2},
    {"llama2-sys-strip", ChatTemplateKind::kLlama2},
};

}  // namespace

const char* chat_template_name(ChatTemplateKind kind) {
  switch (kind) {
    case ChatTemplateKind::kChatML:
      return "chatml";
    case ChatTemplateKind::kLlama3:
      return "llama3";
    case ChatTemplateKind::kMistral:
      return "mistral";
    case ChatTemplateKind::kLlama2:
      return "llama2";
    case ChatTemplateKind::kGemma:
      return "gemma";
    case ChatTemplateKind::kPhi3:
      return "phi3";
    case ChatTemplateKind::kZephyr:
      return "zephyr";
    case ChatTemplateKind::kPlain:
      return "plain";
  }
  return "?";
}

Result<ChatTemplateKind> parse_chat_template_kind(std::string_view name) {
  for (const NamedKind& n : kNames) {
    if (n.name == name) return n.kind;
  }
  return Status::invalid_argument("unknown chat template '" + std::string(name) +
                                  "' (expected chatml, llama3, mistral, llama2, gemma, phi3, "
                                  "zephyr or plain)");
}

ChatTemplateKind detect_chat_template(std::string_view t) {
  if (auto named = parse_chat_template_kind(t); named.ok()) return *named;
  if (contains(t, "<|im_start|>")) {
    // Phi-4 writes "<|im_start|>role<|im_sep|>": not ChatML, and no family of ours.
    return contains(t, "<|im_sep|>") ? ChatTemplateKind::kPlain : ChatTemplateKind::kChatML;
  }
  if (t.starts_with("mistral") || contains(t, "[INST]")) {
    return contains(t, "<<SYS>>") ? ChatTemplateKind::kLlama2 : ChatTemplateKind::kMistral;
  }
  if (contains(t, "<|assistant|>") && contains(t, "<|end|>")) return ChatTemplateKind::kPhi3;
  // Zephyr's templates write the end marker as eos_token, so the literal "</s>" is often absent.
  if (contains(t, "<|user|>") &&
      (contains(t, "<|assistant|>") || contains(t, "</s>") || contains(t, "<|endoftext|>"))) {
    return ChatTemplateKind::kZephyr;
  }
  if (contains(t, "<start_of_turn>")) return ChatTemplateKind::kGemma;
  if (contains(t, "<|start_header_id|>") && contains(t, "<|end_header_id|>")) {
    return ChatTemplateKind::kLlama3;
  }
  return ChatTemplateKind::kPlain;
}

std::string format_chat(ChatTemplateKind kind, std::span<const ChatMessage> messages,
                        bool add_generation_prompt, std::string_view bos_text) {
  std::string out;
  switch (kind) {
    case ChatTemplateKind::kChatML:
      format_chatml(messages, add_generation_prompt, out);
      break;
    case ChatTemplateKind::kLlama3:
      format_llama3(messages, add_generation_prompt, bos_text, out);
      break;
    case ChatTemplateKind::kMistral:
      format_mistral(messages, bos_text, out);
      break;
    case ChatTemplateKind::kLlama2:
      format_llama2(messages, bos_text, out);
      break;
    case ChatTemplateKind::kGemma:
      format_gemma(messages, add_generation_prompt, bos_text, out);
      break;
    case ChatTemplateKind::kPhi3:
      format_role_tags(messages, "<|end|>", out);
      out += add_generation_prompt ? "<|assistant|>\n" : "<|endoftext|>";
      break;
    case ChatTemplateKind::kZephyr:
      format_role_tags(messages, "</s>", out);
      if (add_generation_prompt) out += "<|assistant|>\n";
      break;
    case ChatTemplateKind::kPlain:
      format_plain(messages, add_generation_prompt, out);
      break;
  }
  return out;
}

std::vector<std::string> chat_template_stop_strings(ChatTemplateKind kind) {
  switch (kind) {
    case ChatTemplateKind::kChatML:
      return {"<|im_end|>"};
    case ChatTemplateKind::kLlama3:
      return {"<|eot_id|>"};
    case ChatTemplateKind::kMistral:
    case ChatTemplateKind::kLlama2:
    case ChatTemplateKind::kZephyr:
      return {"</s>"};
    case ChatTemplateKind::kGemma:
      return {"<end_of_turn>"};
    case ChatTemplateKind::kPhi3:
      return {"<|end|>"};
    case ChatTemplateKind::kPlain:
      return {"\nUser:"};
  }
  return {};
}

}  // namespace ragkit::embed
