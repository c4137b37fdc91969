#include "generation.h"

#include <cmath>
#include <string>

#include "http_error.h"

namespace ragkit::services {

GenerationQueue::Ticket enter_generation(Service& service, Deadline deadline) {
  if (service.stopping) {
    throw HttpError(503, "the server is shutting down", "unavailable");
  }
  auto ticket = service.generation_queue.try_admit();
  if (!ticket) {
    // About how long until a place frees up: the queue ahead at the last generation's pace.
    const double per = std::max(1.0, service.last_generation_seconds.load());
    const long wait = std::lround(std::ceil(per * double(service.generation_queue.max_waiting() + 1)));
    HttpError e(429,
                "the generator is busy: one answer is being generated and " +
                    std::to_string(service.generation_queue.max_waiting()) +
                    " are waiting (rag serve --queue); retry later",
                "rate_limit_error");
    e.headers.emplace_back("Retry-After", std::to_string(std::max(1L, wait)));
    throw e;
  }
  if (!ticket->wait_turn(deadline)) {
    throw HttpError(503,
                    service.stopping ? "the server is shutting down"
                                     : "timed out waiting for the generator (rag serve --timeout)",
                    "unavailable");
  }
  return std::move(*ticket);
}

bool keep_generating(const Service& service, Deadline deadline) {
  return !service.cancel_generations && std::chrono::steady_clock::now() < deadline;
}

embed::SamplingOptions parse_sampling(const JsonRequest& request, const Service& service,
                                      embed::SamplingOptions s) {
  const int64_t n_ctx = service.resources.answerer->n_ctx();
  const int64_t max_tokens_limit = n_ctx > 0 ? n_ctx : 4096;
  // OpenAI's newer name for the same limit.
  const char* max_field = request.has("max_completion_tokens") ? "max_completion_tokens"
                                                               : "max_tokens";
  s.max_tokens = static_cast<int32_t>(request.integer(max_field, s.max_tokens, 1,
                                                      max_tokens_limit));
  s.temperature = static_cast<float>(request.number("temperature", s.temperature, 0.0, 2.0));
  s.top_p = static_cast<float>(request.number("top_p", s.top_p, 0.0, 1.0));
  if (auto seed = request.optional_integer("seed", 0, UINT32_MAX)) {
    s.seed = static_cast<uint32_t>(*seed);
  }
  const nlohmann::json& stop = request.value("stop");
  auto add_stop = [&s](const nlohmann::json& v) {
    if (!v.is_string() || v.get<std::string>().empty()) {
      throw HttpError::bad_field("stop", "'stop' must be a non-empty string or an array of up "
                                         "to 4 non-empty strings");
    }
    s.stop_strings.push_back(v.get<std::string>());
  };
  if (stop.is_array()) {
    if (stop.size() > 4) throw HttpError::bad_field("stop", "'stop' takes at most 4 strings");
    for (const auto& v : stop) add_stop(v);
  } else if (!stop.is_null()) {
    add_stop(stop);
  }
  return s;
}

rag::SearchMode parse_mode(const JsonRequest& request, const Service& service) {
  const rag::Retriever& retriever = *service.resources.retriever;
  auto mode = request.optional_string("mode");
  if (!mode) return retriever.effective_mode(rag::SearchMode::kHybrid);
  auto parsed = rag::parse_search_mode(*mode);
  if (!parsed.ok()) throw HttpError::bad_field("mode", parsed.status().message());
  if (*parsed != rag::SearchMode::kLexical && !retriever.dense_available()) {
    throw HttpError::bad_field("mode", "'mode' " + *mode + " needs the embedding model, which "
                                       "this collection has not; use \"lexical\"");
  }
  return *parsed;
}

rag::AskOptions parse_ask_options(const JsonRequest& request, const Service& service) {
  rag::AskOptions options;
  options.retrieve.k = static_cast<size_t>(request.integer("k", 5, 1, 100));
  options.retrieve.mode = parse_mode(request, service);
  embed::SamplingOptions defaults = rag::AskOptions::default_sampling();
  defaults.max_tokens = options.max_tokens;
  options.sampling = parse_sampling(request, service, defaults);
  options.max_tokens = options.sampling.max_tokens;
  return options;
}

void record_generation(Service& service, const rag::Answer& answer) {
  if (answer.kind != rag::AnswerKind::kGenerated) return;
  service.metrics.record_generation(answer.completion_tokens, answer.decode_seconds);
  service.last_generation_seconds = answer.retrieve_seconds + answer.prefill_seconds +
                                    answer.decode_seconds;
}

}  // namespace ragkit::services
