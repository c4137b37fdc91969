// POST /v1/ask {"question", "k", "max_tokens", "temperature", "top_p", "seed", "mode", "stream"}
// -> rag::answer_json (`rag ask --json`'s object). With "stream": true, Server-Sent Events:
//   data: {"delta": "<text>"}        one per piece of the answer as it is generated
//   event: sources                   then the whole answer (rag::answer_json, with its sources)
//   data: {...}
//   data: [DONE]
// An error after the stream started is sent as `event: error` with the error object.
//
// Generated answers go through the generation queue (429 when full). Extractive answers (no
// generator) use no generator and skip it.
#include "exchange.h"
#include "generation.h"
#include "json_request.h"
#include "ragkit/rag/json.h"
#include "service.h"

namespace ragkit::services {
namespace {

void ask(Service& service, Exchange& exchange) {
  const nlohmann::json body = exchange.json_body();
  const JsonRequest request(body);
  const std::string question = request.required_string("question");
  const rag::AskOptions options = parse_ask_options(request, service);
  const bool stream = request.boolean("stream", false);
  rag::Answerer& answerer = *service.resources.answerer;

  const Deadline deadline = service.deadline();
  std::optional<GenerationQueue::Ticket> turn;
  if (answerer.has_generator()) turn.emplace(enter_generation(service, deadline));

  if (!stream) {
    auto answer = answerer.ask(question, options, [&](std::string_view) {
      return keep_generating(service, deadline);
    });
    if (!answer.ok()) throw http_error_from(answer.status());
    record_generation(service, *answer);
    turn.reset();  // the next generation may start while this response is sent
    exchange.send_json(200, rag::answer_json(*answer));
    return;
  }

  EventStream& events = exchange.start_event_stream();
  auto answer = answerer.ask(question, options, [&](std::string_view piece) {
    return events.send(dump_json(nlohmann::json{{"delta", std::string(piece)}})) &&
           keep_generating(service, deadline);
  });
  turn.reset();
  if (!answer.ok()) {
    events.send(dump_json(http_error_from(answer.status()).body()), "error");
    return;
  }
  record_generation(service, *answer);
  events.send(dump_json(rag::answer_json(*answer)), "sources");
  events.send("[DONE]");
}

}  // namespace

void add_ask_routes(Router& router, Service& service) {
  router.add("POST", "/v1/ask", [&service](Exchange& exchange) { ask(service, exchange); });
}

}  // namespace ragkit::services
