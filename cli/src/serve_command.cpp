#include "serve_command.h"

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "collection_util.h"
#include "ragkit/rag/answerer.h"
#include "ragkit/rag/retriever.h"
#include "ragkit/retrieval/collection.h"
#include "ragkit/services/server.h"

namespace ragkit::cli {
namespace {

namespace fs = std::filesystem;

struct ServeArgs {
  std::string db = kDefaultDb;
  std::string model;      // empty: the collection's (rag.json); "none": lexical only
  std::string generator;  // empty: extractive answers
  int64_t ctx_size = 0;
  embed::KvType cache_type = embed::KvType::kF16;
  embed::ModelLoadOptions load;  // the generator's
  std::string api_key_file;
  int drain_seconds = 10;
  int timeout_seconds = 120;
  services::ServerOptions server;
};

// The name clients see for a model: the file's stem or the folder's name.
std::string model_display_name(const std::string& path) {
  const fs::path p = fs::path(path).lexically_normal();
  const fs::path name = p.has_filename() ? p : p.parent_path();
  return fs::is_directory(name) ? name.filename().string() : name.stem().string();
}

int run_serve(ServeArgs& a) {
  std::error_code ec;
  if (!fs::exists(a.db, ec)) {
    return report_error(a.db + ": no collection here; run `rag index FOLDER --db " + a.db +
                        "` first (or pass --db the collection's folder)");
  }
  retrieval::CollectionOptions copts;
  copts.create_if_missing = false;
  auto collection = retrieval::Collection::open(a.db, copts);  // for writing: uploads
  if (!collection.ok()) return report_error(collection.status());

  // Two encoders of the same model: the Retriever's embeds queries; the other embeds uploads
  // and /v1/embeddings, so a long indexing run never holds a search up.
  auto query_encoder = open_query_encoder(a.db, **collection, a.model);
  if (!query_encoder.ok()) return report_error(query_encoder.status());
  std::unique_ptr<embed::Encoder> bulk_encoder;
  if (*query_encoder) {
    auto opened = open_query_encoder(a.db, **collection, a.model);
    if (!opened.ok()) return report_error(opened.status());
    bulk_encoder = std::move(*opened);
  }
  IndexSettings settings;
  if (auto stored = read_index_settings(a.db); stored.ok()) settings = *stored;
  if (settings.chunk_tokens == 0) settings.chunk_tokens = retrieval::ChunkOptions{}.chunk_tokens;

  std::unique_ptr<embed::Model> generator_model;
  std::string generator_name;
  if (!a.generator.empty()) {
    auto path = resolve_model(a.generator);
    if (!path.ok()) return report_error(path.status());
    auto opened = open_model(*path, a.load);
    if (!opened.ok()) return report_error(opened.status());
    generator_model = std::move(*opened);
    generator_name = model_display_name(*path);
  }

  ThreadPool& pool = ThreadPool::default_pool();
  rag::Retriever retriever(**collection, query_encoder->get());
  rag::AnswererOptions answerer_options;
  answerer_options.n_ctx = a.ctx_size;
  answerer_options.cache_type = a.cache_type;
  auto answerer = rag::Answerer::create(retriever, generator_model.get(), pool, answerer_options);
  if (!answerer.ok()) return report_error(answerer.status());

  services::ServiceResources resources;
  resources.collection = collection->get();
  resources.retriever = &retriever;
  resources.answerer = answerer->get();
  resources.generator_model = generator_model.get();
  resources.embedding_encoder = bulk_encoder.get();
  resources.generator_name = generator_name;
  resources.pool = &pool;
  if (bulk_encoder) {
    resources.embedding_model_name =
        settings.model.empty() ? bulk_encoder->model().name() : model_display_name(settings.model);
    resources.indexing.embedder = make_embedder(*bulk_encoder);
  } else if ((*collection)->stats().dimension == 0) {
    // A lexical-only collection takes documents for BM25, as `rag index --model none` does.
    resources.indexing.embedder = retrieval::lexical_only_embedder();
  }
  const std::string db = a.db;
  const retrieval::Embedder& embedder = resources.indexing.embedder;
  resources.indexing.options_for_folder = [db, settings, &embedder](const std::string& folder) {
    return index_options_for(db, folder, settings, embedder);
  };
  resources.indexing.chunk = index_options_for(db, db, settings, embedder).chunk;
  resources.indexing.summary_json = [db](const retrieval::IndexSummary& s) {
    return index_summary_json(s, db);
  };

  services::ServerOptions& options = a.server;
  options.timeout = std::chrono::seconds(a.timeout_seconds);
  if (!a.api_key_file.empty()) {
    auto keys = services::read_api_keys(a.api_key_file);
    if (!keys.ok()) return report_error(keys.status());
    options.api_keys = std::move(*keys);
  }

  // SIGTERM and SIGINT are taken by sigwait() below, never by a handler: blocked here, before
  // any thread starts, so every thread (Poco's and the pool's) inherits the mask. A client that
  // goes away must not kill the process with SIGPIPE: writes fail with EPIPE instead.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto server = services::Server::start(resources, options);
  if (!server.ok()) return report_error(server.status());
  std::printf("rag serve: listening on http://%s:%u (%s, %s)\n", options.host.c_str(),
              unsigned((*server)->port()),
              generator_model ? ("generator " + generator_name).c_str() : "extractive answers",
              bulk_encoder ? "dense + lexical search" : "lexical search");
  if (Status flushed = flush_stdout(); !flushed.ok()) return report_error(flushed);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::fprintf(stderr, "rag serve: %s: draining (at most %d s)\n",
               signal_number == SIGTERM ? "SIGTERM" : "SIGINT", a.drain_seconds);
  (*server)->stop(std::chrono::seconds(a.drain_seconds));
  server->reset();
  Status flushed = (*collection)->flush();
  if (!flushed.ok()) return report_error(flushed);
  collection->reset();
  std::fprintf(stderr, "rag serve: stopped\n");
  return 0;
}

}  // namespace

Command add_serve_command(CLI::App& app) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Serve a collection over HTTP: search, answers, uploads, OpenAI-compatible "
               "embeddings and chat, a web page");
  services::ServerOptions& s = args->server;
  cmd->add_option("--db", args->db, "Collection folder (default ./.ragkit)");
  cmd->add_option("--host", s.host, "Address to listen on (default 127.0.0.1)");
  cmd->add_option("--port", s.port, "Port (default 8080; 0 picks a free one)");
  cmd->add_option("--api-key-file", args->api_key_file,
                  "File of API keys, one per line: requests need \"Authorization: Bearer KEY\" "
                  "(/health and the web page stay open)");
  cmd->add_option("--http-threads", s.http_threads,
                  "HTTP request threads (default 16; compute threads: the global --threads)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("-m,--model", args->model,
                  "Embedding model (default: the one the collection was indexed with; \"none\": "
                  "lexical search only)");
  cmd->add_option("--generator", args->generator,
                  "Causal model for answers and chat (a .gguf file, a folder or a short name); "
                  "without it answers are extractive");
  cmd->add_option("-c,--ctx-size", args->ctx_size,
                  "Generator context window in tokens (default: the model's, at most 4096)")
      ->check(CLI::NonNegativeNumber);
  add_cache_type_option(*cmd, args->cache_type);
  add_load_options(*cmd, args->load);
  cmd->add_option("--allow-root", s.allowed_roots,
                  "A folder whose files POST /v1/documents {\"path\"} may index (repeatable; "
                  "default: none)");
  cmd->add_option("--max-body-bytes", s.max_body_bytes,
                  "Largest request body (default 1048576; 413 beyond)")
      ->check(CLI::Range(size_t{1024}, size_t{1} << 30));
  cmd->add_option("--queue", s.generation_queue,
                  "Generations that may wait behind the running one (default 4; 429 beyond)")
      ->check(CLI::Range(size_t{0}, size_t{1024}));
  cmd->add_option("--timeout", args->timeout_seconds,
                  "Seconds a socket may stay silent, and the longest a generation (waiting "
                  "included) may take (default 120)")
      ->check(CLI::Range(1, 86400));
  cmd->add_option("--drain-seconds", args->drain_seconds,
                  "On SIGTERM/SIGINT, how long requests in flight may take to finish (default 10)")
      ->check(CLI::Range(0, 3600));
  return {cmd, [args] { return run_serve(*args); }};
}

}  // namespace ragkit::cli
