// /v1/documents:
//   POST {"path": "<folder or file>"}  indexes it as `rag index` does (same chunking; a folder is
//                                     brought in step: new, changed and deleted files), when it
//                                     resolves inside an --allow-root folder (403 otherwise).
//                                     Symbolic links are not followed inside the folder.
//   POST {"name": "notes/x.md", "text": "..."}  adds or replaces one document from its text,
//                                     loaded by the loader of the name's extension.
//   GET                               {"documents": [...]} as `rag docs --json`.
//   DELETE /v1/documents/{path}       {"deleted": path}, or 404.
// Writes run one at a time (Service::document_writes); searches do not wait for them.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "allowed_paths.h"
#include "exchange.h"
#include "json_request.h"
#include "ragkit/rag/json.h"
#include "service.h"

namespace ragkit::services {
namespace {

namespace fs = std::filesystem;

const retrieval::Embedder& writable_embedder(const Service& service) {
  const retrieval::Embedder& embedder = service.resources.indexing.embedder;
  // A lexical-only collection indexes without vectors (dimension 0, no embed function).
  if (!embedder.count_tokens || (embedder.dimension > 0 && !embedder.embed)) {
    throw HttpError(503, "this collection's embedding model is not loaded (rag serve --model "
                         "none on a collection with vectors), so the service cannot add "
                         "documents to it",
                    "unavailable");
  }
  return embedder;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

nlohmann::json summary_response(const Service& service, const retrieval::IndexSummary& summary,
                                std::vector<std::string> keys) {
  nlohmann::json out = service.resources.indexing.summary_json(summary);
  if (!keys.empty()) out["documents"] = std::move(keys);
  return out;
}

nlohmann::json index_path(Service& service, const std::string& requested) {
  auto resolved = resolve_allowed_path(requested, service.allowed_roots);
  if (!resolved.ok()) {
    const Status& s = resolved.status();
    if (s.code() == Status::Code::kNotFound) {
      throw HttpError(404, s.message(), "not_found", "path");
    }
    throw HttpError(403, s.message(), "permission_error", "path");
  }
  const retrieval::Embedder& embedder = writable_embedder(service);
  const IndexingSetup& indexing = service.resources.indexing;
  retrieval::Collection& collection = *service.resources.collection;
  std::error_code ec;
  if (fs::is_directory(*resolved, ec)) {
    retrieval::IndexOptions options = indexing.options_for_folder(resolved->string());
    options.walk.follow_symlinks = false;  // a link must not lead the walk out of the root
    std::lock_guard lock(service.document_writes);
    auto summary = retrieval::index_folder(resolved->string(), collection, embedder, options);
    if (!summary.ok()) throw http_error_from(summary.status());
    Status flushed = collection.flush();
    if (!flushed.ok()) throw http_error_from(flushed);
    return summary_response(service, *summary, {});
  }
  if (!fs::is_regular_file(*resolved, ec)) {
    throw HttpError::bad_field("path", requested + " is neither a folder nor a regular file");
  }
  const retrieval::IndexOptions options =
      indexing.options_for_folder(resolved->parent_path().string());
  const std::string name = resolved->filename().string();
  const retrieval::FileType type = retrieval::file_type_from_name(name);
  if (type == retrieval::FileType::kUnknown) {
    throw HttpError::bad_field("path", name + ": not a file type ragkit reads (text, code, "
                                              "Markdown, HTML, PDF)");
  }
  const uint64_t size = fs::file_size(*resolved, ec);
  if (ec || size > options.walk.max_file_bytes) {
    throw HttpError::bad_field("path", name + " is larger than the file size limit of " +
                                           std::to_string(options.walk.max_file_bytes) + " bytes");
  }
  std::ifstream in(*resolved, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (!in) throw HttpError(500, requested + ": cannot read the file", "server_error", "path");
  const std::string contents = bytes.str();
  retrieval::DocumentBytes source;
  source.key = options.path_prefix + name;
  source.bytes = contents;
  source.type = type;
  source.mtime_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        fs::last_write_time(*resolved, ec).time_since_epoch())
                        .count();
  std::lock_guard lock(service.document_writes);
  auto summary = retrieval::index_document(source, collection, embedder, options.chunk);
  if (!summary.ok()) throw http_error_from(summary.status());
  return summary_response(service, *summary, {source.key});
}

nlohmann::json upload_text(Service& service, const JsonRequest& request) {
  const std::string name = request.required_string("name");
  Status valid = check_document_name(name);
  if (!valid.ok()) throw HttpError::bad_field("name", valid.message());
  const std::optional<std::string> text = request.optional_string("text");
  if (!text) throw HttpError::bad_field("text", "missing required field 'text'");
  const retrieval::FileType type = retrieval::file_type_from_name(name);
  if (type == retrieval::FileType::kUnknown || type == retrieval::FileType::kPdf) {
    throw HttpError::bad_field("name", "'name' must end in an extension of a text format "
                                       "ragkit reads (.md, .txt, .html, source code ...)");
  }
  const retrieval::Embedder& embedder = writable_embedder(service);
  retrieval::DocumentBytes source;
  source.key = name;
  source.bytes = *text;
  source.type = type;
  source.mtime_ns = now_ns();
  std::lock_guard lock(service.document_writes);
  auto summary = retrieval::index_document(source, *service.resources.collection, embedder,
                                service.resources.indexing.chunk);
  if (!summary.ok()) throw http_error_from(summary.status());
  return summary_response(service, *summary, {name});
}

}  // namespace

void add_document_routes(Router& router, Service& service) {
  router.add("POST", "/v1/documents", [&service](Exchange& exchange) {
    const nlohmann::json body = exchange.json_body();
    const JsonRequest request(body);
    if (request.has("path")) {
      exchange.send_json(200, index_path(service, request.required_string("path")));
    } else if (request.has("name") || request.has("text")) {
      exchange.send_json(200, upload_text(service, request));
    } else {
      throw HttpError::bad_field("path", "send {\"path\": \"<folder or file>\"} to index a "
                                         "path, or {\"name\": \"notes/a.md\", \"text\": \"...\"} "
                                         "to upload a document");
    }
  });
  router.add("GET", "/v1/documents", [&service](Exchange& exchange) {
    exchange.send_json(200, rag::documents_json(service.resources.collection->documents()));
  });
  router.add("DELETE", "/v1/documents/{path}", [&service](Exchange& exchange) {
    const std::string& path = exchange.params().at(0);
    Result<bool> removed = false;
    {
      std::lock_guard lock(service.document_writes);
      removed = service.resources.collection->remove(path);
    }
    if (!removed.ok()) throw http_error_from(removed.status());
    if (!*removed) throw HttpError(404, "no document " + path + " in the collection", "not_found");
    exchange.send_json(200, nlohmann::json{{"deleted", path}});
  });
}

}  // namespace ragkit::services
