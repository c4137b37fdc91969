#include "index_command.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "collection_util.h"
#include "ragkit/retrieval/collection.h"
#include "ragkit/retrieval/folder_indexer.h"

namespace ragkit::cli {
namespace {

namespace fs = std::filesystem;
using retrieval::IndexSummary;

struct IndexArgs {
  std::string folder;
  std::string db = kDefaultDb;
  std::string model;  // empty: the one the collection was made with, else the default
  size_t chunk_tokens = 200;
  size_t overlap = 1;
  std::vector<std::string> exclude;
  std::string index_type;  // empty: the collection's, else Flat
  uint64_t max_file_mb = 32;
  bool json = false;
};

// Progress on stderr: one rewritten line on a terminal, a plain line every few seconds otherwise.
class ProgressPrinter {
 public:
  ProgressPrinter() : tty_(isatty(STDERR_FILENO) != 0), last_(Clock::now()) {}
  void update(const retrieval::IndexProgress& p) {
    const auto now = Clock::now();
    const double since = std::chrono::duration<double>(now - last_).count();
    if (tty_) {
      if (since < 0.1) return;
      std::string path = p.current_path;
      if (path.size() > 40) path = "..." + path.substr(path.size() - 37);
      std::fprintf(stderr, "\r\033[Kindexing %llu/%llu files, %llu chunks  %s",
                   (unsigned long long)p.files_seen, (unsigned long long)p.files_total,
                   (unsigned long long)p.chunks, path.c_str());
      printed_ = true;
    } else {
      if (since < 5.0) return;
      std::fprintf(stderr, "rag: indexing: %llu files done, %llu chunks\n",
                   (unsigned long long)p.files_seen, (unsigned long long)p.chunks);
    }
    last_ = now;
  }
  void finish() {
    if (tty_ && printed_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  using Clock = std::chrono::steady_clock;
  bool tty_;
  bool printed_ = false;
  Clock::time_point last_;
};

void print_summary(const IndexSummary& s, const std::string& folder, const std::string& db) {
  std::printf("indexed %s into %s in %.2f s\n", folder.c_str(), db.c_str(), s.seconds);
  std::printf("  added %llu, updated %llu, removed %llu, unchanged %llu, skipped %llu\n",
              (unsigned long long)s.added, (unsigned long long)s.updated,
              (unsigned long long)s.removed, (unsigned long long)s.unchanged,
              (unsigned long long)s.skipped);
  std::printf("  %llu chunks, %llu tokens, %.0f tokens/s", (unsigned long long)s.chunks,
              (unsigned long long)s.tokens, s.tokens_per_second());
  if (s.seconds > 0 && s.chunks > 0) {
    std::printf(" (embedding %.0f%% of the time)", 100.0 * s.embed_seconds / s.seconds);
  }
  std::printf("\n");
  bool header = false;
  for (const auto& issue : s.issues) {
    if (issue.reason == "warning") continue;
    if (!header) std::printf("skipped:\n"), header = true;
    std::printf("  %s  %s: %s\n", issue.path.c_str(), issue.reason.c_str(), issue.detail.c_str());
  }
  header = false;
  for (const auto& issue : s.issues) {
    if (issue.reason != "warning") continue;
    if (!header) std::printf("warnings:\n"), header = true;
    std::printf("  %s  %s\n", issue.path.c_str(), issue.detail.c_str());
  }
}

int run_index(const IndexArgs& a) {
  std::error_code ec;
  if (!fs::is_directory(a.folder, ec)) {
    return report_error(a.folder + ": not a folder (rag index FOLDER indexes the files under it)");
  }
  // What an earlier run chose stays unless the user names something else.
  IndexSettings settings;
  auto previous = read_index_settings(a.db);
  if (previous.ok()) settings = *previous;
  if (!a.model.empty()) settings.model = a.model;
  if (settings.model.empty()) settings.model = kDefaultEmbeddingModel;
  if (!a.index_type.empty()) settings.index_type = a.index_type;
  if (settings.index_type.empty()) settings.index_type = "Flat";
  settings.chunk_tokens = a.chunk_tokens;
  settings.overlap_sentences = a.overlap;

  // `--model none`: a lexical-only collection (BM25), for machines without an embedding model.
  const bool lexical_only = settings.model == kNoModel;
  std::unique_ptr<embed::Encoder> encoder;
  retrieval::Embedder embedder;
  if (lexical_only) {
    if (previous.ok() && previous->model != kNoModel) {
      return report_error("the collection in " + a.db + " holds vectors of model " +
                          previous->model + "; --model none cannot add documents without "
                          "them (index into another --db for a lexical-only collection)");
    }
    settings.model_path.clear();
    settings.index_type.clear();
    embedder = retrieval::lexical_only_embedder();
  } else {
    auto model_path = resolve_model(settings.model);
    if (!model_path.ok()) return report_error(model_path.status());
    settings.model_path = fs::absolute(*model_path, ec).string();  // `rag search` runs elsewhere
    auto opened = open_encoder(*model_path);
    if (!opened.ok()) return report_error(opened.status());
    encoder = std::move(*opened);
    embedder = make_embedder(*encoder);
  }

  retrieval::IndexOptions options = index_options_for(a.db, a.folder, settings, embedder);
  options.walk.exclude.insert(options.walk.exclude.begin(), a.exclude.begin(), a.exclude.end());
  options.walk.max_file_bytes = a.max_file_mb << 20;
  if (a.chunk_tokens == 0 || a.chunk_tokens > embedder.max_tokens) {
    return report_error("--chunk-tokens " + std::to_string(a.chunk_tokens) + " is outside 1.." +
                        std::to_string(embedder.max_tokens) + " (the model's " +
                        std::to_string(encoder ? encoder->max_seq_length() : 0) +
                        "-token limit minus its special tokens): chunks are never truncated");
  }

  // A lexical-only collection indexed now with a model is upgraded in place: its chunks get
  // vectors, everything else stays.
  const bool upgrade = !lexical_only && previous.ok() && previous->model == kNoModel;
  retrieval::CollectionOptions copts;
  if (!upgrade) {
    copts.model_id = embedder.model_id;
    copts.dimension = static_cast<uint32_t>(embedder.dimension);
    copts.index_factory = settings.index_type;  // "" for a lexical-only collection
  }
  copts.progress = [last = std::chrono::steady_clock::time_point()](
                       std::string_view message, uint64_t done, uint64_t total) mutable {
    if (total == 0) return;  // a new, empty collection: nothing worth saying
    const auto now = std::chrono::steady_clock::now();
    if (done != 0 && done != total && now - last < std::chrono::seconds(2)) return;
    last = now;
    std::fprintf(stderr, "rag: %.*s (%llu/%llu)\n", int(message.size()), message.data(),
                 (unsigned long long)done, (unsigned long long)total);
  };
  auto collection = retrieval::Collection::open(a.db, copts);
  if (!collection.ok()) return report_error(collection.status());
  std::optional<retrieval::VectorUpgradeSummary> upgraded;
  size_t truncated = 0;
  if (upgrade) {
    retrieval::VectorUpgrade spec;
    spec.model_id = embedder.model_id;
    spec.dimension = static_cast<uint32_t>(embedder.dimension);
    spec.index_factory = settings.index_type;
    // Chunks were sized by an estimate (no tokenizer then): count those the model cuts.
    spec.embed = [&](std::span<const std::string> texts) -> Result<std::vector<float>> {
      RAGKIT_ASSIGN_OR_RETURN(auto result, encoder->embed(texts));
      truncated += result.n_truncated();
      return std::move(result.vectors);
    };
    auto done = (*collection)->add_vectors(spec);
    if (!done.ok()) return report_error(done.status());
    upgraded = *done;
  }
  Status saved = write_index_settings(a.db, settings);
  if (!saved.ok()) return report_error(saved);

  ProgressPrinter printer;
  if (!a.json) options.progress = [&](const retrieval::IndexProgress& p) { printer.update(p); };
  auto summary = retrieval::index_folder(a.folder, **collection, embedder, options);
  printer.finish();
  if (!summary.ok()) return report_error(summary.status());
  Status flushed = (*collection)->flush();
  if (!flushed.ok()) return report_error(flushed);

  if (a.json) {
    nlohmann::json j = index_summary_json(*summary, a.db);
    if (upgraded) {
      j["vectors_added"] = {{"chunks", upgraded->chunks},
                            {"embedded", upgraded->embedded},
                            {"resumed", upgraded->resumed},
                            {"truncated", truncated},
                            {"seconds", upgraded->seconds}};
    }
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    if (upgraded) {
      std::printf("added vectors of %s to the %llu chunks of the lexical-only collection in "
                  "%.2f s: dense and hybrid search are on\n",
                  settings.model.c_str(), (unsigned long long)upgraded->chunks,
                  upgraded->seconds);
      if (truncated > 0) {
        std::printf("  %zu chunks were longer than the model's %zu-token limit and were embedded "
                    "from their start (`rag index %s --model %s --db NEW_DB` re-chunks for the model)\n",
                    truncated, encoder->max_seq_length(), a.folder.c_str(),
                    settings.model.c_str());
      }
    }
    print_summary(*summary, a.folder, a.db);
    if (lexical_only) {
      std::printf("  lexical-only (no embedding model): search is BM25, answers are extractive; "
                  "`rag index %s --db %s --model %s` adds dense search in place\n",
                  a.folder.c_str(), a.db.c_str(), kDefaultEmbeddingModel);
    }
  }
  return finish_output();
}

}  // namespace

Command add_index_command(CLI::App& app) {
  auto args = std::make_shared<IndexArgs>();
  CLI::App* cmd = app.add_subcommand(
      "index", "Index a folder (again): add new files, replace changed ones, drop deleted ones");
  cmd->add_option("folder", args->folder, "The folder to index")->required();
  cmd->add_option("--db", args->db, "Collection folder (default ./.ragkit)");
  cmd->add_option("-m,--model", args->model,
                  "Embedding model: a .gguf file, a Hugging Face folder or a short name in "
                  "$RAGKIT_MODELS_DIR or ~/.cache/ragkit/models (default: the collection's, "
                  "else all-MiniLM-L6-v2); \"none\" for a lexical-only (BM25) collection");
  cmd->add_option("--chunk-tokens", args->chunk_tokens, "Token budget of a chunk (default 200)");
  cmd->add_option("--overlap", args->overlap,
                  "Sentences repeated from the previous chunk (default 1)");
  cmd->add_option("--exclude", args->exclude,
                  "gitignore-style pattern of files to leave out (repeatable; a .ragignore file "
                  "in the folder works too)");
  cmd->add_option("--index-type", args->index_type,
                  "FAISS factory string when the collection is created: Flat (default), HNSW32, "
                  "IVF1024,Flat, SQ8, ...");
  cmd->add_option("--max-file-mb", args->max_file_mb,
                  "Files larger than this are skipped and reported (default 32)");
  cmd->add_flag("--json", args->json, "Print the summary as JSON");
  return {cmd, [args] { return run_index(*args); }};
}

}  // namespace ragkit::cli
