#include "ragkit/rag/prompt.h"

#include <fstream>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

namespace ragkit::rag {

namespace {

// Replaces each "{name}" of `fields` in one left-to-right pass, so a value that itself contains
// "{text}" (a document quoting a template) is never expanded again.
std::string substitute(std::string_view templ,
                       std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  std::string out;
  out.reserve(templ.size());
  size_t i = 0;
  while (i < templ.size()) {
    if (templ[i] == '{') {
      bool replaced = false;
      for (const auto& [name, value] : fields) {
        if (templ.substr(i + 1, name.size()) == name && i + 1 + name.size() < templ.size() &&
            templ[i + 1 + name.size()] == '}') {
          out += value;
          i += name.size() + 2;
          replaced = true;
          break;
        }
      }
      if (replaced) continue;
    }
    out += templ[i++];
  }
  return out;
}

}  // namespace

Result<PromptTemplate> load_prompt_template(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found("cannot read the prompt template " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  nlohmann::json doc = nlohmann::json::parse(buffer.str(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Status::invalid_argument("the prompt template " + path +
                                    " is not a JSON object with \"system\", \"source\" and "
                                    "\"user\" strings");
  }
  PromptTemplate prompt;
  for (auto& [key, field] : {std::pair<const char*, std::string*>{"system", &prompt.system},
                             {"source", &prompt.source},
                             {"user", &prompt.user}}) {
    if (!doc.contains(key)) continue;
    if (!doc[key].is_string()) {
      return Status::invalid_argument("the prompt template " + path + ": \"" + key +
                                      "\" must be a string");
    }
    *field = doc[key].get<std::string>();
  }
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (it.key() != "system" && it.key() != "source" && it.key() != "user") {
      return Status::invalid_argument("the prompt template " + path + " has an unknown key \"" +
                                      it.key() + "\" (known: system, source, user)");
    }
  }
  return prompt;
}

std::string render_source(const PromptTemplate& prompt, const Passage& passage, size_t n) {
  const std::string number = std::to_string(n);
  const std::string location = passage_location(passage);
  return substitute(prompt.source, {{"n", number},
                                    {"path", passage.path},
                                    {"location", location},
                                    {"heading", passage.location.heading_path},
                                    {"text", passage.text}});
}

std::string render_user_turn(const PromptTemplate& prompt, std::span<const Passage> sources,
                             std::string_view question) {
  std::string rendered;
  for (size_t i = 0; i < sources.size(); ++i) {
    if (i > 0) rendered += "\n";
    rendered += render_source(prompt, sources[i], i + 1);
  }
  return substitute(prompt.user, {{"sources", rendered}, {"question", question}});
}

std::vector<embed::ChatMessage> build_messages(const PromptTemplate& prompt,
                                               std::span<const embed::ChatMessage> history,
                                               std::span<const Passage> sources,
                                               std::string_view question) {
  std::vector<embed::ChatMessage> messages;
  if (!prompt.system.empty()) messages.push_back({"system", prompt.system});
  for (const embed::ChatMessage& m : history) {
    if (m.role != "system") messages.push_back(m);
  }
  messages.push_back({"user", render_user_turn(prompt, sources, question)});
  return messages;
}

}  // namespace ragkit::rag
