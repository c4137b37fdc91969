// Chat templates: a conversation (system / user / assistant messages) -> the prompt text an
// instruction-tuned model was trained on. Models ship their template as Jinja
// (tokenizer_config.json's "chat_template", GGUF's tokenizer.chat_template); ragkit does not run
// Jinja. Like llama.cpp's llama_chat_apply_template, it recognises the template's family from
// marker strings in it and writes that family's format in C++.
//
// Exactness: for a conversation of an optional leading system message followed by alternating
// user and assistant messages, format_chat() produces byte for byte what the family's reference
// template renders (Hugging Face apply_chat_template, tokenize=False) with the same bos_token,
// except where noted:
//   kChatML   Qwen2.5, SmolLM2, OpenHermes ... "<|im_start|>role\ncontent<|im_end|>\n". Templates
//             that insert a default system message when there is none (Qwen2.5, SmolLM2) are
//             not followed in that: no system message is invented.
//   kLlama3   Meta-Llama-3-Instruct: "<|start_header_id|>role<|end_header_id|>\n\n" + trimmed
//             content + "<|eot_id|>". The 3.1+ templates also put "Cutting Knowledge Date: ..."
//             lines into the system message; those are not written.
//   kMistral  Mistral-7B-Instruct-v0.1/v0.2, Mistral's "v1" template:
//             " [INST] system\n\nuser [/INST] assistant</s> [INST] user [/INST]". The system
//             message is folded into the first user turn. Later Mistral templates (v3, v7,
//             Tekken) put the spaces elsewhere and are written in this format too.
//   kLlama2   Llama-2-chat: "[INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] assistant </s>" and
//             bos_text before every "[INST]"; each turn's content is trimmed.
//   kGemma    Gemma, Gemma 2 and 3: "<start_of_turn>user\n...<end_of_turn>\n", "model" for the
//             assistant, contents trimmed. Gemma has no system role (Gemma 2's template raises
//             on one): the system text and "\n\n" open the next user turn, as Gemma 3's
//             template and llama.cpp do (the system text trimmed, as llama.cpp does; Gemma 3
//             keeps its surrounding whitespace).
//   kPhi3     Phi-3/3.5: "<|role|>\ncontent<|end|>\n"; without a generation prompt the template
//             ends with its eos_token, written as "<|endoftext|>". Phi-3-mini's first template
//             (still in many GGUF files) also wrote bos_token and dropped system messages; for a
//             conversation without one, the output is that template's with bos_token "".
//   kZephyr   Zephyr, TinyLlama-Chat: "<|role|>\ncontent</s>\n", generation prompt
//             "<|assistant|>\n" (eos_token written as "</s>").
//   kPlain    No template (base models): "System: ...\nUser: ...\nAssistant: ...\n" with
//             trimmed contents, and "Assistant:" as the generation prompt.
// Role names other than system/user/assistant are written as given where the family writes role
// names (ChatML, Llama 3, Gemma, Phi-3, Zephyr, Plain); the [INST] families treat them as user
// turns. A system message that is not first is handled like a first one in the families that
// fold it (Mistral, Llama 2, Gemma: it goes into the next user turn; with no user turn after it,
// it becomes a user turn of its own rather than being dropped). Templates that raise an
// error for a malformed conversation (two user turns in a row) are not imitated in that.
//
// BOS: the reference templates of Llama 2/3, Mistral and Gemma write bos_token themselves;
// format_chat() writes `bos_text` exactly where they do (and never for ChatML, Phi-3, Zephyr and
// Plain, whose templates do not). Most tokenizers add a BOS token on their
// own (GGUF tokenizer.ggml.add_bos_token, Hugging Face's add_bos_token), and a second one hurts
// the model; so pass "" when the tokenizer adds BOS (llama.cpp's rule: its built-in templates
// never write BOS), and the BOS token's text when tokenizing without adding special tokens. The
// only loss with "": Llama 2's BOS before the second and later [INST] turns.
//
// Thread-safety: pure functions.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ragkit/common/status.h"

namespace ragkit::embed {

enum class ChatTemplateKind {
  kChatML,
  kLlama3,
  kMistral,  // [INST] ... [/INST], Mistral's "v1" spacing
  kLlama2,   // [INST] <<SYS>> ... <</SYS>> ... [/INST], Llama-2-chat
  kGemma,
  kPhi3,
  kZephyr,
  kPlain,
};

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// The family of a Jinja chat template, from its marker strings (llama.cpp's
// llm_chat_detect_template heuristics, in its order): "<|im_start|>" -> ChatML; "[INST]" ->
// Llama 2 when it has "<<SYS>>", else Mistral; "<|assistant|>" with "<|end|>" -> Phi-3;
// "<|user|>" and "<|assistant|>" -> Zephyr; "<start_of_turn>" -> Gemma; "<|start_header_id|>"
// with "<|end_header_id|>" -> Llama 3. A template name that parse_chat_template_kind() accepts
// is taken as that name. Empty or unrecognised -> kPlain (so is Phi-4's "<|im_sep|>" variant of
// ChatML, which is not ChatML).
ChatTemplateKind detect_chat_template(std::string_view jinja_template);

// The prompt for `messages`. add_generation_prompt appends the opening of an assistant turn
// (the text the model continues from); the [INST] families have none (their prompt ends with
// "[/INST]" already). See the header comment for bos_text.
std::string format_chat(ChatTemplateKind kind, std::span<const ChatMessage> messages,
                        bool add_generation_prompt, std::string_view bos_text = {});

// "chatml", "llama3", "mistral", "llama2", "gemma", "phi3", "zephyr", "plain".
const char* chat_template_name(ChatTemplateKind kind);
// The inverse of chat_template_name(), for a command-line override; also accepts llama.cpp's
// names of the same formats ("mistral-v1", "llama2-sys", ...). invalid_argument listing the
// names otherwise.
Result<ChatTemplateKind> parse_chat_template_kind(std::string_view name);

// Text that ends an assistant turn in this family ("<|im_end|>", "<|eot_id|>", "</s>",
// "<end_of_turn>", "<|end|>"; "\nUser:" for kPlain): stop strings for a generator that renders
// special tokens as text or drives a base model. Generators that stop on the vocabulary's
// end-of-generation token ids need them only as a fallback.
std::vector<std::string> chat_template_stop_strings(ChatTemplateKind kind);

}  // namespace ragkit::embed
