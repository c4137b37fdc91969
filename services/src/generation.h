// What /v1/ask and /v1/chat/completions share: admission to the generation queue (429 with
// Retry-After when full, 503 when the turn does not come before the deadline or the server is
// draining), the sampling fields of a request, and the stop condition of a running generation.
//
// Thread-safety: free functions over the shared Service (see service.h).
#pragma once

#include <chrono>

#include "generation_queue.h"
#include "json_request.h"
#include "ragkit/embed/sampler.h"
#include "ragkit/rag/answerer.h"
#include "service.h"

namespace ragkit::services {

using Deadline = std::chrono::steady_clock::time_point;

// A place in the queue whose turn has come; throws HttpError 429 or 503 otherwise.
GenerationQueue::Ticket enter_generation(Service& service, Deadline deadline);

// Whether a running generation should go on (before its deadline, not cancelled by a drain).
bool keep_generating(const Service& service, Deadline deadline);

// "max_tokens" (1..the context), "temperature" (0..2), "top_p" (0..1), "seed" (0..2^32-1),
// "stop" (a string or up to 4 strings) over `defaults`.
embed::SamplingOptions parse_sampling(const JsonRequest& request, const Service& service,
                                      embed::SamplingOptions defaults);

// "mode": dense|lexical|hybrid; default hybrid (lexical without an embedding model); dense or
// hybrid without one is 400.
rag::SearchMode parse_mode(const JsonRequest& request, const Service& service);

// "k" (1..100), "mode" (dense|lexical|hybrid; default hybrid, lexical without an encoder) and
// the sampling fields, for the Answerer.
rag::AskOptions parse_ask_options(const JsonRequest& request, const Service& service);

// Counts an answer's generated tokens in the metrics.
void record_generation(Service& service, const rag::Answer& answer);

}  // namespace ragkit::services
