// GET /health (open), GET /metrics, GET / (the web page, open so it can load and then send the
// key the user types).
#include "exchange.h"
#include "ragkit_web_page.h"
#include "service.h"

namespace ragkit::services {

void add_status_routes(Router& router, Service& service) {
  router.add(
      "GET", "/health",
      [&service](Exchange& exchange) {
        const auto stats = service.resources.collection->stats();
        exchange.send_json(200, nlohmann::json{
                                    {"status", service.stopping ? "stopping" : "ok"},
                                    {"documents", stats.documents},
                                    {"chunks", stats.chunks},
                                    {"generator", service.resources.generator_model != nullptr},
                                    {"dense", service.resources.retriever->dense_available()}});
      },
      Access::kOpen);
  router.add("GET", "/metrics", [&service](Exchange& exchange) {
    const auto stats = service.resources.collection->stats();
    Metrics::Gauges gauges;
    gauges.queue_depth = service.generation_queue.waiting();
    gauges.generating = service.generation_queue.generating();
    gauges.documents = stats.documents;
    gauges.chunks = stats.chunks;
    exchange.send_text(200, "text/plain; version=0.0.4; charset=utf-8",
                       service.metrics.render(gauges));
  });
  router.add(
      "GET", "/",
      [](Exchange& exchange) {
        exchange.send_text(200, "text/html; charset=utf-8", generated::kWebPage);
      },
      Access::kOpen);
}

}  // namespace ragkit::services
