// Metrics: what GET /metrics reports, in Prometheus' text exposition format (version 0.0.4):
//   ragkit_http_requests_total{endpoint, status}         counter
//   ragkit_http_request_duration_seconds{endpoint}       histogram (le buckets, _sum, _count)
//   ragkit_http_requests_in_flight                       gauge
//   ragkit_generated_tokens_total                        counter
//   ragkit_generation_seconds_total                      counter (decode time)
//   ragkit_generation_tokens_per_second                  gauge (the last generation's rate)
//   ragkit_generation_queue_depth                        gauge (waiting for the generator)
//   ragkit_generation_active                             gauge (0 or 1)
//   ragkit_collection_documents, ragkit_collection_chunks  gauges
// `endpoint` is the route's pattern ("/v1/search", "/v1/documents/{path}"), or "unmatched", so
// the label set stays bounded whatever paths clients send.
//
// Thread-safety: every method may be called from any thread (one mutex; a request records once).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace ragkit::services {

class Metrics {
 public:
  // One finished request.
  void record_request(const std::string& endpoint, int status, double seconds);
  // One finished generation.
  void record_generation(int64_t tokens, double decode_seconds);

  void request_started() { in_flight_add(1); }
  void request_finished() { in_flight_add(-1); }
  int64_t in_flight() const;

  // The exposition text; the gauges the metrics do not own are passed in.
  struct Gauges {
    size_t queue_depth = 0;
    bool generating = false;
    uint64_t documents = 0;
    uint64_t chunks = 0;
  };
  std::string render(const Gauges& gauges) const;

  // Histogram bucket upper bounds, seconds.
  static constexpr std::array<double, 14> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                      0.1,   0.25,   0.5,   1,    2.5,   5,
                                                      10,    30};

 private:
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> counts{};  // per bucket (not cumulative)
    uint64_t count = 0;
    double sum = 0;
  };
  void in_flight_add(int64_t delta);

  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, Histogram> durations_;
  int64_t in_flight_ = 0;
  int64_t generated_tokens_ = 0;
  double generation_seconds_ = 0;
  double last_tokens_per_second_ = 0;
};

}  // namespace ragkit::services
