#include "bench_generate.h"

#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "ragkit/common/thread_pool.h"
#include "ragkit/embed/generator.h"
#include "ragkit/embed/profile.h"

namespace ragkit::cli {

std::vector<int32_t> bench_prompt_ids(int64_t n_tokens, int64_t n_vocab, int32_t bos) {
  std::vector<int32_t> ids(static_cast<size_t>(n_tokens));
  for (int64_t i = 0; i < n_tokens; ++i) {
    ids[static_cast<size_t>(i)] =
        i == 0 ? bos : static_cast<int32_t>(3 + (i * 7919) % (n_vocab - 3));
  }
  return ids;
}

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Bytes of weights one decoded token reads: every matrix once (the LM head included; one row of
// the token embedding is noise).
uint64_t weight_bytes_per_token(const embed::Model& model) {
  uint64_t bytes = 0;
  for (const embed::LayerWeights& l : model.weights().layers) {
    for (const embed::Linear* lin : {&l.q, &l.k, &l.v, &l.o, &l.up, &l.gate, &l.down}) {
      bytes += lin->weight.n_bytes;
    }
  }
  return bytes + model.weights().output.weight.n_bytes;
}

// Bytes of KV cache one decoded token reads on average over the measured decode: every layer's
// keys and values of every position before it (prompt + 1 ... prompt + decode), at the cache's
// element size. Not part of the bound, which counts weights; printed beside it, because at a few
// hundred positions it is a tenth of what a small quantized model reads per token.
uint64_t kv_bytes_per_token(const embed::ModelConfig& c, embed::KvType type, int64_t prompt,
                            int64_t decode) {
  const double positions = static_cast<double>(prompt) + static_cast<double>(decode + 1) / 2.0;
  const double element = type == embed::KvType::kF16 ? 2.0 : 4.0;
  return static_cast<uint64_t>(2.0 * static_cast<double>(c.n_layer * c.n_head_kv * c.head_dim()) *
                               element * positions);
}

std::string run_capture(const std::string& cmd, int& exit_code) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    exit_code = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int rc = ::pclose(p);
  exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace

void add_bench_generate_options(CLI::App& cmd, BenchGenerateOptions& o) {
  cmd.add_option("--model", o.model, "A causal model: .gguf file or Hugging Face directory")->required();
  cmd.add_option("--prompt-tokens", o.prompt_tokens, "Prompt length for the prefill (default 512)")
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
  cmd.add_option("--decode-tokens", o.decode_tokens, "Tokens decoded one by one (default 128)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd.add_option("--repeat", o.repeat, "Runs; the best is reported (default 3)")->check(CLI::Range(1, 100));
  cmd.add_option("--peer", o.peer, "llama.cpp (default) or none")
      ->check(CLI::IsMember({"llama.cpp", "none"}));
  cmd.add_option("--peer-script", o.peer_script, "The peer's runner (default bench/llamacpp_peer/run.sh)");
  add_cache_type_option(cmd, o.cache_type);
  add_load_options(cmd, o.load);
  cmd.add_flag("--json", o.json, "Print the figures as JSON");
}

int run_bench_generate(const BenchGenerateOptions& o) {
  Result<std::unique_ptr<embed::Model>> opened = open_model(o.model, o.load);
  if (!opened.ok()) return report_error(opened.status());
  const embed::Model& model = **opened;
  ThreadPool& pool = ThreadPool::default_pool();
  embed::GeneratorOptions gen_options;
  gen_options.n_ctx = o.prompt_tokens + o.decode_tokens;
  gen_options.n_batch = o.prompt_tokens;
  gen_options.cache_type = o.cache_type;
  Result<std::unique_ptr<embed::Generator>> created = embed::Generator::create(model, pool, gen_options);
  if (!created.ok()) return report_error(created.status());
  embed::Generator& gen = **created;

  const int32_t bos = model.tokenizer().bos_id().value_or(3);
  const std::vector<int32_t> prompt = bench_prompt_ids(o.prompt_tokens, model.config().n_vocab, bos);

  // Warm-up: faults the mapped weights in and sizes every buffer.
  {
    auto warm = gen.feed(std::span(prompt).first(std::min<size_t>(prompt.size(), 16)));
    if (!warm.ok()) return report_error(warm.status());
  }
  double best_prefill = 1e30, best_decode = 1e30;
  std::vector<int32_t> generated;
  for (int r = 0; r < o.repeat; ++r) {
    gen.reset();
    auto t0 = Clock::now();
    auto logits = gen.feed(prompt);
    if (!logits.ok()) return report_error(logits.status());
    best_prefill = std::min(best_prefill, seconds_since(t0));
    generated.clear();
    t0 = Clock::now();
    for (int64_t i = 0; i < o.decode_tokens; ++i) {
      const auto next = static_cast<int32_t>(std::max_element(logits->begin(), logits->end()) - logits->begin());
      generated.push_back(next);
      logits = gen.feed(std::span(&generated.back(), 1));
      if (!logits.ok()) return report_error(logits.status());
    }
    best_decode = std::min(best_decode, seconds_since(t0));
  }
  const double prefill_tps = static_cast<double>(o.prompt_tokens) / best_prefill;
  const double decode_tps = static_cast<double>(o.decode_tokens) / best_decode;
  const uint64_t bytes_per_token = weight_bytes_per_token(model);
  const double bandwidth = embed::measure_read_bandwidth_gbs(pool);
  if (bandwidth <= 0)
    return report_error("cannot allocate the buffer that measures the memory bandwidth");
  const double bound_tps = bandwidth * 1e9 / static_cast<double>(bytes_per_token);
  const uint64_t kv_bytes =
      kv_bytes_per_token(model.config(), o.cache_type, o.prompt_tokens, o.decode_tokens);
  const double bound_with_kv_tps =
      bandwidth * 1e9 / static_cast<double>(bytes_per_token + kv_bytes);
  // The same probe over a buffer the size of what a token reads: a small model's weights can
  // stay in part in a large shared L3 (the Xeon VM reports 480 MB and read a 128 MB buffer at
  // ~50 GB/s against ~29 from memory), and then the memory bound above is no bound at all.
  const uint64_t working_set = bytes_per_token + kv_bytes;
  const double working_set_bandwidth = embed::measure_read_bandwidth_gbs(pool, working_set);
  if (working_set_bandwidth <= 0)
    return report_error("cannot allocate the buffer that measures the read bandwidth");
  const double bound_working_set_tps =
      working_set_bandwidth * 1e9 / static_cast<double>(working_set);

  nlohmann::ordered_json out;
  out["model"] = model.name();
  out["file"] = o.model;
  out["weight_type"] = model.weight_type();
  out["params"] = model.n_params();
  out["threads"] = pool.size();
  out["kv_cache_type"] = embed::kv_type_name(o.cache_type);
  out["weights"] = o.load.in_memory ? "in memory" : "mapped";
  out["packed_bytes"] = model.packed_bytes();
  out["prompt_tokens"] = o.prompt_tokens;
  out["decode_tokens"] = o.decode_tokens;
  out["prefill_tokens_per_second"] = prefill_tps;
  out["decode_tokens_per_second"] = decode_tps;
  out["weight_bytes_per_token"] = bytes_per_token;
  out["read_bandwidth_gb_per_second"] = bandwidth;
  out["decode_bound_tokens_per_second"] = bound_tps;
  out["decode_share_of_bound"] = decode_tps / bound_tps;
  out["kv_bytes_per_token"] = kv_bytes;
  out["decode_bound_with_kv_tokens_per_second"] = bound_with_kv_tps;
  out["decode_share_of_bound_with_kv"] = decode_tps / bound_with_kv_tps;
  out["working_set_bytes"] = working_set;
  out["working_set_read_bandwidth_gb_per_second"] = working_set_bandwidth;
  out["decode_bound_working_set_tokens_per_second"] = bound_working_set_tps;
  out["decode_share_of_bound_working_set"] = decode_tps / bound_working_set_tps;

  if (o.peer == "llama.cpp") {
    std::string script = o.peer_script;
    if (script.empty()) script = std::string(RAGKIT_SOURCE_DIR) + "/bench/llamacpp_peer/run.sh";
    const std::string cmd =
        shell_quote(script) + " --model " + shell_quote(o.model) + " --threads " +
        std::to_string(pool.size()) + " --prompt-tokens " + std::to_string(o.prompt_tokens) +
        " --decode-tokens " + std::to_string(o.decode_tokens) + " --repeat " +
        std::to_string(o.repeat) + " --kv-type " + embed::kv_type_name(o.cache_type);
    std::cerr << "rag bench: running the llama.cpp peer: " << cmd << "\n";
    int rc = 0;
    const std::string res = run_capture(cmd, rc);
    // The peer prints its result as the last line; anything before it is its log.
    const size_t line = res.rfind("\n{");
    nlohmann::json peer =
        nlohmann::json::parse(line == std::string::npos ? res : res.substr(line + 1), nullptr, false);
    if (rc != 0 || peer.is_discarded() || !peer.is_object()) {
      report_warning("the llama.cpp peer failed (exit " + std::to_string(rc) +
                     "); see bench/llamacpp_peer/README.md, or pass --peer none");
    } else {
      out["llama.cpp"] = peer;
      if (peer.value("decode_tokens_per_second", 0.0) > 0) {
        out["decode_speedup_vs_llama_cpp"] = decode_tps / peer["decode_tokens_per_second"].get<double>();
      }
      if (peer.value("prefill_tokens_per_second", 0.0) > 0) {
        out["prefill_speedup_vs_llama_cpp"] = prefill_tps / peer["prefill_tokens_per_second"].get<double>();
      }
    }
  }

  if (o.json) {
    std::cout << out.dump(2) << "\n";
  } else {
    std::printf(
        "model %s (%s, %.1fM parameters), %d threads, %s KV cache, weights %s, %.1f MB "
        "packed\n",
        model.name().c_str(), model.weight_type().c_str(),
        static_cast<double>(model.n_params()) / 1e6, pool.size(), embed::kv_type_name(o.cache_type),
        o.load.in_memory ? "in memory" : "mapped", static_cast<double>(model.packed_bytes()) / 1e6);
    std::printf("prefill: %lld tokens at %.1f tokens/s\n", static_cast<long long>(o.prompt_tokens), prefill_tps);
    std::printf("decode:  %lld tokens at %.1f tokens/s; bound %.1f tokens/s (%.1f MB of weights per token, "
                "%.1f GB/s read bandwidth): %.0f%% of the bound\n",
                static_cast<long long>(o.decode_tokens), decode_tps, bound_tps,
                static_cast<double>(bytes_per_token) / 1e6, bandwidth, 100.0 * decode_tps / bound_tps);
    std::printf(
        "         with the KV cache it reads too (%.1f MB per token on average): bound %.1f "
        "tokens/s, %.0f%% of it\n",
        static_cast<double>(kv_bytes) / 1e6, bound_with_kv_tps,
        100.0 * decode_tps / bound_with_kv_tps);
    std::printf(
        "         reading a buffer of that size (%.1f MB; caches included) at %.1f GB/s: bound "
        "%.1f tokens/s, %.0f%% of it\n",
        static_cast<double>(working_set) / 1e6, working_set_bandwidth, bound_working_set_tps,
        100.0 * decode_tps / bound_working_set_tps);
    if (out.contains("llama.cpp")) {
      const auto& p = out["llama.cpp"];
      std::printf("llama.cpp: prefill %.1f tokens/s, decode %.1f tokens/s -> ragkit %.2fx prefill, %.2fx decode\n",
                  p.value("prefill_tokens_per_second", 0.0), p.value("decode_tokens_per_second", 0.0),
                  out.value("prefill_speedup_vs_llama_cpp", 0.0), out.value("decode_speedup_vs_llama_cpp", 0.0));
    }
  }
  return finish_output();
}

}  // namespace ragkit::cli
