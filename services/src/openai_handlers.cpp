// OpenAI-compatible endpoints, so existing clients and SDKs work against `rag serve`:
//   POST /v1/embeddings        {"input": str | [str], "model"} -> {"object": "list", "data":
//                              [{"object": "embedding", "index", "embedding"}], "model", "usage"}
//   POST /v1/chat/completions  {"messages", "max_tokens", "temperature", "top_p", "seed", "stop",
//                              "stream", "rag"} -> a chat.completion, or chat.completion.chunk
//                              events ending in [DONE]. "rag": true answers the last user message
//                              from the collection through the Answerer (earlier messages are its
//                              history) and adds "sources".
//   GET  /v1/models            the embedding model and the generator.
#include <chrono>
#include <random>

#include "exchange.h"
#include "generation.h"
#include "json_request.h"
#include "ragkit/embed/chat_template.h"
#include "ragkit/rag/json.h"
#include "service.h"

namespace ragkit::services {
namespace {

constexpr size_t kMaxEmbeddingInputs = 2048;  // OpenAI's limit per request
constexpr const char* kExtractiveModel = "ragkit-extractive";

int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string completion_id() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  char buf[32];
  std::snprintf(buf, sizeof buf, "chatcmpl-%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

void embeddings(Service& service, Exchange& exchange) {
  const nlohmann::json body = exchange.json_body();
  const JsonRequest request(body);
  embed::Encoder* encoder = service.resources.embedding_encoder;
  if (encoder == nullptr) {
    throw HttpError(503, "no embedding model is loaded (lexical-only collection or --model none)",
                    "unavailable");
  }
  request.optional_string("model");  // checked for its type; this server has one model
  if (auto format = request.optional_string("encoding_format"); format && *format != "float") {
    throw HttpError::bad_field("encoding_format", "only \"float\" is supported");
  }
  const nlohmann::json& input = request.value("input");
  std::vector<std::string> texts;
  if (input.is_string()) {
    texts.push_back(input.get<std::string>());
  } else if (input.is_array() && !input.empty()) {
    if (input.size() > kMaxEmbeddingInputs) {
      throw HttpError::bad_field("input", "'input' holds at most " +
                                              std::to_string(kMaxEmbeddingInputs) + " texts");
    }
    for (const auto& item : input) {
      if (!item.is_string()) {
        throw HttpError::bad_field("input", std::string("'input' must hold strings, not ") +
                                                json_type_name(item));
      }
      texts.push_back(item.get<std::string>());
    }
  } else if (input.is_null()) {
    throw HttpError::bad_field("input", "missing required field 'input'");
  } else {
    throw HttpError::bad_field("input", "'input' must be a string or a non-empty array of "
                                        "strings");
  }
  for (const std::string& t : texts) {
    if (t.empty()) throw HttpError::bad_field("input", "'input' texts must not be empty");
  }
  auto result = encoder->embed(texts);
  if (!result.ok()) throw http_error_from(result.status());
  nlohmann::json data = nlohmann::json::array();
  size_t tokens = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto v = result->vector(i);
    data.push_back({{"object", "embedding"},
                    {"index", i},
                    {"embedding", std::vector<float>(v.begin(), v.end())}});
    tokens += result->n_tokens[i];
  }
  exchange.send_json(200, nlohmann::json{{"object", "list"},
                                         {"data", std::move(data)},
                                         {"model", service.resources.embedding_model_name},
                                         {"usage", {{"prompt_tokens", tokens},
                                                    {"total_tokens", tokens}}}});
}

struct ChatRequest {
  std::vector<embed::ChatMessage> messages;
  embed::SamplingOptions sampling;
  bool stream = false;
  bool rag = false;
  rag::AskOptions ask;  // rag: true
};

// A message's content: a string, or OpenAI's array of parts of which the text ones count.
std::string message_content(const nlohmann::json& content, size_t i) {
  const std::string field = "messages[" + std::to_string(i) + "].content";
  if (content.is_string()) return content.get<std::string>();
  if (content.is_array()) {
    std::string text;
    for (const auto& part : content) {
      if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
          !part["text"].is_string()) {
        throw HttpError::bad_field(field, "'" + field + "' parts must be {\"type\": \"text\", "
                                                        "\"text\": \"...\"}");
      }
      text += part["text"].get<std::string>();
    }
    return text;
  }
  throw HttpError::bad_field(field, "'" + field + "' must be a string, not " +
                                        json_type_name(content));
}

ChatRequest parse_chat(const JsonRequest& request, const Service& service) {
  ChatRequest chat;
  const nlohmann::json& messages = request.value("messages");
  if (messages.is_null()) throw HttpError::bad_field("messages", "missing required field "
                                                                 "'messages'");
  if (!messages.is_array() || messages.empty()) {
    throw HttpError::bad_field("messages", "'messages' must be a non-empty array of "
                                           "{\"role\", \"content\"} objects");
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    const nlohmann::json& m = messages[i];
    const std::string at = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw HttpError::bad_field(at, "'" + at + "' must be an object");
    const auto role = m.find("role");
    if (role == m.end() || !role->is_string() ||
        (*role != "system" && *role != "user" && *role != "assistant" && *role != "developer")) {
      throw HttpError::bad_field(at + ".role", "'" + at + ".role' must be \"system\", \"user\" "
                                                          "or \"assistant\"");
    }
    const auto content = m.find("content");
    if (content == m.end() || content->is_null()) {
      throw HttpError::bad_field(at + ".content", "missing required field '" + at + ".content'");
    }
    std::string r = role->get<std::string>();
    chat.messages.push_back({r == "developer" ? "system" : r, message_content(*content, i)});
  }
  chat.stream = request.boolean("stream", false);
  chat.rag = request.boolean("rag", false);
  chat.sampling = parse_sampling(request, service, embed::SamplingOptions{});
  if (chat.rag) {
    if (chat.messages.back().role != "user") {
      throw HttpError::bad_field("messages", "with \"rag\": true the last message must be the "
                                             "user's question");
    }
    chat.ask = parse_ask_options(request, service);
    chat.ask.sampling = chat.sampling;
    chat.ask.max_tokens = chat.sampling.max_tokens;
    for (size_t i = 0; i + 1 < chat.messages.size(); ++i) {
      // The grounding instruction stays the Answerer's; the client's turns become the history.
      if (chat.messages[i].role != "system") chat.ask.history.push_back(chat.messages[i]);
    }
  }
  return chat;
}

const char* finish_reason(std::string_view stop_reason) {
  return stop_reason == "length" || stop_reason == "context" ? "length" : "stop";
}

// What a chat completion produced, from either path.
struct ChatResult {
  std::string text;
  std::string stop_reason;
  int64_t prompt_tokens = 0, completion_tokens = 0;
  std::optional<rag::Answer> answer;  // rag: true
};

nlohmann::ordered_json usage_json(const ChatResult& r) {
  return {{"prompt_tokens", r.prompt_tokens},
          {"completion_tokens", r.completion_tokens},
          {"total_tokens", r.prompt_tokens + r.completion_tokens}};
}

nlohmann::ordered_json sources_json(const rag::Answer& answer) {
  nlohmann::ordered_json sources = nlohmann::ordered_json::array();
  for (size_t i = 0; i < answer.sources.size(); ++i) {
    const bool cited =
        std::find(answer.cited.begin(), answer.cited.end(), i + 1) != answer.cited.end();
    sources.push_back(rag::source_json(answer.sources[i], i + 1, cited));
  }
  return sources;
}

// The plain chat: the conversation in the generator's chat template, generated.
ChatResult generate_chat(Service& service, const ChatRequest& chat,
                         const embed::TextCallback& on_text) {
  auto generation = service.resources.answerer->chat(chat.messages, chat.sampling, on_text);
  if (!generation.ok()) {
    if (generation.status().code() == Status::Code::kOutOfRange) {
      throw HttpError::bad_field("messages", generation.status().message());
    }
    throw http_error_from(generation.status());
  }
  service.metrics.record_generation(generation->completion_tokens, generation->decode_seconds);
  service.last_generation_seconds = generation->prefill_seconds + generation->decode_seconds;
  ChatResult r;
  r.text = std::move(generation->text);
  r.stop_reason = embed::stop_reason_name(generation->stop_reason);
  r.prompt_tokens = generation->prompt_tokens;
  r.completion_tokens = generation->completion_tokens;
  return r;
}

ChatResult run_chat(Service& service, const ChatRequest& chat, const embed::TextCallback& on_text) {
  if (!chat.rag) return generate_chat(service, chat, on_text);
  const std::string& question = chat.messages.back().content;
  auto answer = service.resources.answerer->ask(question, chat.ask, on_text);
  if (!answer.ok()) throw http_error_from(answer.status());
  record_generation(service, *answer);
  ChatResult r;
  r.text = answer->text;
  r.stop_reason = answer->stop_reason;
  r.prompt_tokens = answer->prompt_tokens;
  r.completion_tokens = answer->completion_tokens;
  r.answer = std::move(*answer);
  return r;
}

void chat_completions(Service& service, Exchange& exchange) {
  const nlohmann::json body = exchange.json_body();
  const JsonRequest request(body);
  const ChatRequest chat = parse_chat(request, service);
  const bool generating = service.resources.answerer->has_generator();
  if (!chat.rag && !generating) {
    throw HttpError(503, "no generator is loaded: start rag serve with --generator MODEL, or "
                         "send \"rag\": true for an extractive answer from the documents",
                    "unavailable");
  }
  const std::string model = generating ? service.resources.generator_name : kExtractiveModel;
  const std::string id = completion_id();
  const int64_t created = unix_seconds();
  const Deadline deadline = service.deadline();
  std::optional<GenerationQueue::Ticket> turn;
  if (generating) turn.emplace(enter_generation(service, deadline));

  if (!chat.stream) {
    ChatResult r = run_chat(service, chat, [&](std::string_view) {
      return keep_generating(service, deadline);
    });
    turn.reset();
    nlohmann::ordered_json out = {
        {"id", id},
        {"object", "chat.completion"},
        {"created", created},
        {"model", model},
        {"choices", {{{"index", 0},
                      {"message", {{"role", "assistant"}, {"content", r.text}}},
                      {"finish_reason", finish_reason(r.stop_reason)}}}},
        {"usage", usage_json(r)}};
    if (r.answer) out["sources"] = sources_json(*r.answer);
    exchange.send_json(200, out);
    return;
  }

  auto chunk = [&](nlohmann::ordered_json delta, nlohmann::ordered_json finish) {
    return nlohmann::ordered_json{{"id", id},
                                  {"object", "chat.completion.chunk"},
                                  {"created", created},
                                  {"model", model},
                                  {"choices", {{{"index", 0},
                                                {"delta", std::move(delta)},
                                                {"finish_reason", std::move(finish)}}}}};
  };
  EventStream& events = exchange.start_event_stream();
  events.send(dump_json(chunk({{"role", "assistant"}, {"content", ""}}, nullptr)));
  ChatResult r;
  try {
    r = run_chat(service, chat, [&](std::string_view piece) {
      return events.send(dump_json(chunk({{"content", std::string(piece)}}, nullptr))) &&
             keep_generating(service, deadline);
    });
  } catch (const HttpError& e) {
    events.send(dump_json(e.body()), "error");
    return;
  }
  turn.reset();
  nlohmann::ordered_json last = chunk(nlohmann::ordered_json::object(),
                                      finish_reason(r.stop_reason));
  last["usage"] = usage_json(r);
  if (r.answer) last["sources"] = sources_json(*r.answer);
  events.send(dump_json(last));
  events.send("[DONE]");
}

void models(Service& service, Exchange& exchange) {
  nlohmann::json data = nlohmann::json::array();
  for (const std::string& name :
       {service.resources.embedding_model_name, service.resources.generator_name}) {
    if (name.empty()) continue;
    data.push_back({{"id", name}, {"object", "model"}, {"created", 0}, {"owned_by", "ragkit"}});
  }
  exchange.send_json(200, nlohmann::json{{"object", "list"}, {"data", std::move(data)}});
}

}  // namespace

void add_openai_routes(Router& router, Service& service) {
  router.add("POST", "/v1/embeddings",
             [&service](Exchange& exchange) { embeddings(service, exchange); });
  router.add("POST", "/v1/chat/completions",
             [&service](Exchange& exchange) { chat_completions(service, exchange); });
  router.add("GET", "/v1/models", [&service](Exchange& exchange) { models(service, exchange); });
}

}  // namespace ragkit::services
