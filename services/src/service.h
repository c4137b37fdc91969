// Service: the state every endpoint shares — the resources from `rag serve`, the options, the
// API keys, the metrics, the generation queue, the lock that serialises document writes and the
// shutdown flag — and the functions that add each endpoint group's routes.
//
// Thread-safety: handlers run on many HTTP threads at once. The members are either immutable
// after start (resources, options, keys, roots), internally synchronised (metrics, queue,
// atomics) or locks.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include "api_keys.h"
#include "generation_queue.h"
#include "metrics.h"
#include "ragkit/services/server.h"
#include "router.h"

namespace ragkit::services {

struct Service {
  Service(const ServiceResources& r, const ServerOptions& o)
      : resources(r), options(o), keys(o.api_keys), generation_queue(o.generation_queue) {}

  const ServiceResources resources;
  const ServerOptions options;
  const ApiKeys keys;
  std::vector<std::filesystem::path> allowed_roots;  // canonical
  Metrics metrics;
  GenerationQueue generation_queue;
  // Index, upload and delete run one at a time (index_folder is not reentrant on a collection).
  std::mutex document_writes;
  // Set when draining: connections close after their response.
  std::atomic<bool> stopping{false};
  // Set when the drain's grace period is over: running generations stop at their next token.
  std::atomic<bool> cancel_generations{false};
  // Seconds the last generation took, for Retry-After.
  std::atomic<double> last_generation_seconds{1.0};

  std::chrono::steady_clock::time_point deadline() const {
    return std::chrono::steady_clock::now() + options.timeout;
  }
};

void add_search_routes(Router& router, Service& service);    // POST /v1/search
void add_ask_routes(Router& router, Service& service);       // POST /v1/ask
void add_document_routes(Router& router, Service& service);  // /v1/documents
void add_openai_routes(Router& router, Service& service);    // embeddings, chat, models
void add_status_routes(Router& router, Service& service);    // /health, /metrics, /

}  // namespace ragkit::services
