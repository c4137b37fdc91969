// Server: the HTTP service of `rag serve`. One collection, its embedding model and optionally a
// generator behind a JSON API:
//
//   POST   /v1/search            {"query", "k", "mode", "path"} -> `rag search --json`'s object
//   POST   /v1/ask               {"question", "k", "max_tokens", "temperature", "top_p", "seed",
//                                 "mode", "stream"} -> `rag ask --json`'s object, or Server-Sent
//                                 Events ({"delta"} pieces, `event: sources`, the answer, [DONE])
//   POST   /v1/documents         {"path"} (a folder or file under an allowed root) or
//                                 {"name", "text"} (an upload) -> an index summary
//   GET    /v1/documents         `rag docs --json`'s object
//   DELETE /v1/documents/{path}  {"deleted": path}, or 404
//   POST   /v1/embeddings        OpenAI's embeddings API
//   POST   /v1/chat/completions  OpenAI's chat completions (and chunk stream); "rag": true
//                                 answers from the collection and adds "sources"
//   GET    /v1/models            OpenAI's model list: the embedding model and the generator
//   GET    /health               {"status", "documents", "chunks", "generator", "dense"}
//   GET    /metrics              Prometheus text format
//   GET    /                     the web page
//
// Every error is {"error": {"message", "type", "field"}} with its status: 400 invalid JSON or a
// field of the wrong type / out of range (the message names the field), 401 a missing or wrong
// API key, 403 a path outside the allowed roots, 404, 405, 413 a body over the limit, 429 the
// generation queue is full (Retry-After), 500 anything unexpected (exceptions stop at the
// handler boundary), 503 no generator / no embedding model / shutting down.
//
// Threads: Poco's HTTP threads (ServerOptions::http_threads) parse requests and run handlers;
// model compute runs on the one compute ThreadPool the resources were built with. Generations
// (asks and chat completions) are admitted through a bounded queue: one generating and at most
// ServerOptions::generation_queue waiting, 429 beyond. Searches never wait on a generation or on
// indexing: they take neither lock, and query embeddings use their own encoder (the Retriever's).
// Document writes (index, upload, delete) run one at a time.
//
// Thread-safety: start() and stop() from one thread; port() from any.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/embed/encoder.h"
#include "ragkit/embed/model.h"
#include "ragkit/rag/answerer.h"
#include "ragkit/rag/retriever.h"
#include "ragkit/retrieval/collection.h"
#include "ragkit/retrieval/folder_indexer.h"

namespace ragkit::services {

struct ServerOptions {
  std::string host = "127.0.0.1";  // Default: 127.0.0.1 (loopback only)
  uint16_t port = 8080;            // Default: 8080 (0: any free port; see Server::port())
  int http_threads = 16;           // Default: 16 (Poco's request threads)
  // Connections accepted but waiting for an HTTP thread; beyond it the kernel's backlog holds
  // them.
  int max_queued_connections = 256;  // Default: 256
  size_t max_body_bytes = size_t{1} << 20;  // Default: 1 MiB (413 beyond)
  // Generations waiting behind the running one; more get 429 with Retry-After.
  size_t generation_queue = 4;  // Default: 4
  // Socket receive/send timeout, and the deadline of one generation (a request waiting for its
  // turn or generating longer than this is stopped; a streamed answer ends where it is).
  std::chrono::seconds timeout{120};  // Default: 120 s
  // Bearer keys; empty: no authentication. /health and / stay open either way.
  std::vector<std::string> api_keys;  // Default: none
  // Folders whose contents POST /v1/documents {"path"} may index (resolved with realpath; a path
  // that resolves outside all of them is 403). Empty: indexing by path is refused.
  std::vector<std::string> allowed_roots;  // Default: none
};

// How documents are indexed: the CLI's settings for its collection (rag.json), so the service
// indexes exactly as `rag index` does.
struct IndexingSetup {
  // Embeds chunks; `embedder.embed` empty means the collection cannot take documents here
  // (a lexical-only collection: 503 on writes).
  retrieval::Embedder embedder;
  // The options `rag index FOLDER` would use for `folder` (key prefix, chunking, exclusions).
  std::function<retrieval::IndexOptions(const std::string& folder)> options_for_folder;
  // The chunking of uploads.
  retrieval::ChunkOptions chunk;
  // The summary object `rag index --json` prints.
  std::function<nlohmann::json(const retrieval::IndexSummary&)> summary_json;
};

// What the server serves. Everything is owned by the caller and outlives the server.
struct ServiceResources {
  retrieval::Collection* collection = nullptr;  // opened for writing
  const rag::Retriever* retriever = nullptr;    // over `collection`
  rag::Answerer* answerer = nullptr;            // over `retriever`
  const embed::Model* generator_model = nullptr;  // null: extractive answers, no chat
  // Embeds /v1/embeddings inputs; not the Retriever's encoder, so that a large request never
  // delays a search. Null: no embedding model (lexical-only).
  embed::Encoder* embedding_encoder = nullptr;
  std::string embedding_model_name;  // "" without one
  std::string generator_name;        // "" without one
  IndexingSetup indexing;
  ThreadPool* pool = nullptr;  // the compute pool the models run on
};

class Server {
 public:
  // Binds and starts serving. Errors: the address cannot be bound, missing resources.
  static Result<std::unique_ptr<Server>> start(const ServiceResources& resources,
                                               const ServerOptions& options);
  // stop() with a short grace period when still running.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The bound port (the chosen one when ServerOptions::port is 0).
  uint16_t port() const;

  // Drains: stops accepting connections, lets in-flight requests finish for up to `grace`,
  // then cancels running generations (streams end where they are) and closes what is left.
  void stop(std::chrono::milliseconds grace);

  class Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Reads an API key file: one key per line; blank lines and lines starting with '#' are ignored,
// surrounding whitespace is trimmed. An empty file is an error (it would lock everyone out).
Result<std::vector<std::string>> read_api_keys(const std::string& path);

}  // namespace ragkit::services
