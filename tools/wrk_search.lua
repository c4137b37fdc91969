-- wrk script for `make bench-serve`: POST /v1/search with a few rotating queries (hybrid, k 5),
-- then p50/p99 latency and requests/s. Usage: wrk -t2 -c100 -d60s -s tools/wrk_search.lua URL
local queries = {
  "how often are the signing keys rotated",
  "what happened during the incident",
  "first week onboarding checklist",
  "service status page",
  "who approves a production change",
  "password reset procedure",
}
local counter = 0

request = function()
  counter = counter + 1
  local q = queries[(counter % #queries) + 1]
  local body = '{"query": "' .. q .. '", "k": 5}'
  return wrk.format("POST", "/v1/search", {["Content-Type"] = "application/json"}, body)
end

done = function(summary, latency, requests)
  local seconds = summary.duration / 1e6
  io.write(string.format("requests: %d in %.1f s, %.0f requests/s\n", summary.requests, seconds,
                         summary.requests / seconds))
  io.write(string.format("latency: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
                         latency:percentile(50) / 1000, latency:percentile(99) / 1000,
                         latency.max / 1000))
  local e = summary.errors
  io.write(string.format("errors: connect %d, read %d, write %d, status %d, timeout %d\n",
                         e.connect, e.read, e.write, e.status, e.timeout))
end
