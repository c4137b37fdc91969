// The prompt of a grounded answer: numbered sources, an instruction to answer only from them
// and cite them as [n], and the question — laid out as chat messages for the generator's chat
// template.
//
// Templates are plain text with placeholders, so a user can change the wording without code:
//   system   the instruction (no placeholders)
//   source   one source: {n} its number, {path}, {location} ("path:3-9 (page 2)"), {heading},
//            {text}
//   user     the question turn: {sources} (every source rendered and joined), {question}
// Unknown placeholders are left as written. A template file is JSON with any of the keys
// "system", "source", "user" (missing keys keep the defaults).
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/embed/chat_template.h"
#include "ragkit/rag/passage.h"

namespace ragkit::rag {

struct PromptTemplate {
  std::string system =
      "You answer questions using only the numbered sources you are given. Cite every source "
      "you use as [n], for example [1] or [2][3]. If the sources do not contain the answer, say "
      "that you do not know. Do not make anything up.";
  std::string source = "[{n}] {location}\n{text}\n";
  std::string user = "Sources:\n\n{sources}\nQuestion: {question}";
};

// Reads a JSON template file (see above); errors name the file and the problem.
Result<PromptTemplate> load_prompt_template(const std::string& path);

// One source as the prompt shows it; `n` is 1-based.
std::string render_source(const PromptTemplate& prompt, const Passage& passage, size_t n);

// The user turn for `question` over `sources` (numbered 1..n in order).
std::string render_user_turn(const PromptTemplate& prompt, std::span<const Passage> sources,
                             std::string_view question);

// The conversation for the chat template: the system instruction, earlier turns (`history`,
// user/assistant messages as the user wrote them, without their sources), then the user turn.
std::vector<embed::ChatMessage> build_messages(const PromptTemplate& prompt,
                                               std::span<const embed::ChatMessage> history,
                                               std::span<const Passage> sources,
                                               std::string_view question);

}  // namespace ragkit::rag
