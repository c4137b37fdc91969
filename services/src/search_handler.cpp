// POST /v1/search {"query", "k", "mode", "path"} -> `rag search --json`'s object. Runs on the
// HTTP thread: the Retriever is thread-safe and takes neither the generation queue nor the
// document-write lock, so searches go on while answers are generated and folders indexed.
#include "exchange.h"
#include "generation.h"
#include "json_request.h"
#include "ragkit/rag/json.h"
#include "service.h"

namespace ragkit::services {

void add_search_routes(Router& router, Service& service) {
  router.add("POST", "/v1/search", [&service](Exchange& exchange) {
    const nlohmann::json body = exchange.json_body();
    const JsonRequest request(body);
    const std::string query = request.required_string("query");
    rag::RetrieveOptions options;
    options.k = static_cast<size_t>(request.integer("k", 5, 1, 1000));
    options.mode = parse_mode(request, service);
    options.filter.path_glob = request.optional_string("path").value_or("");
    auto passages = service.resources.retriever->retrieve(query, options);
    if (!passages.ok()) throw http_error_from(passages.status());
    exchange.send_json(200, rag::search_results_json(*passages, options.mode));
  });
}

}  // namespace ragkit::services
