#include "bench_command.h"

#include "bench_generate.h"
#include "bench_search.h"
#include "bench_store.h"

#include <sys/resource.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ragkit/common/thread_pool.h"
#include "ragkit/embed/model.h"
#include "ragkit/embed/profile.h"

namespace ragkit::cli {
namespace {

struct BenchEmbedOptions {
  std::string model;
  size_t passages = 1024;
  std::string corpus;   // JSON Lines with "title"/"text" (BEIR); default: SciFact under RAGKIT_DATA_DIR
  std::string peer = "torch";
  std::string python = "/usr/bin/python3";
  std::string peer_script;
  size_t batch = 32;
  bool json = false;
};

// Words of the corpus, in order: passages are cut from this stream so that every run and both
// engines see the same text.
Result<std::vector<std::string>> corpus_words(const std::string& path, size_t needed) {
  std::ifstream in(path);
  if (!in) return Status::not_found(path + ": cannot read the passage corpus");
  std::vector<std::string> words;
  std::string line;
  while (words.size() < needed && std::getline(in, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    std::istringstream ss(j.value("title", "") + " " + j.value("text", ""));
    std::string w;
    while (ss >> w) words.push_back(w);
  }
  if (words.size() < needed) {
    return Status::invalid_argument(path + ": has " + std::to_string(words.size()) +
                                    " words; the benchmark needs " + std::to_string(needed));
  }
  return words;
}

// Passage i has 100 + (i * 37) % 101 words: lengths spread evenly over 100..200.
std::vector<std::string> make_passages(const std::vector<std::string>& words, size_t n) {
  std::vector<std::string> out;
  size_t at = 0;
  for (size_t i = 0; i < n; ++i) {
    const size_t len = 100 + (i * 37) % 101;
    std::string p;
    for (size_t k = 0; k < len; ++k) {
      if (k) p += ' ';
      p += words[(at + k) % words.size()];
    }
    at += len;
    out.push_back(std::move(p));
  }
  return out;
}

double peak_rss_mb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

int run_bench_embed(const BenchEmbedOptions& o) {
  using clock = std::chrono::steady_clock;
  std::string corpus = o.corpus;
  if (corpus.empty()) {
    const char* data = std::getenv("RAGKIT_DATA_DIR");
    if (data == nullptr) {
      return report_error("no --corpus given and RAGKIT_DATA_DIR is not set (the benchmark cuts "
                          "its passages from BEIR SciFact's corpus.jsonl)");
    }
    corpus = std::string(data) + "/scifact/corpus.jsonl";
  }
  auto words = corpus_words(corpus, o.passages * 200 + 1);
  if (!words.ok()) return report_error(words.status());
  const std::vector<std::string> passages = make_passages(*words, o.passages);

  auto enc = open_encoder(o.model);
  if (!enc.ok()) return report_error(enc.status());
  embed::Encoder& e = **enc;
  ThreadPool& pool = ThreadPool::default_pool();

  // The machine's sgemm rate for the model's largest product shape, on the same pool.
  const int d = static_cast<int>(e.dim());
  const int ff = static_cast<int>(e.model().config().n_ff);
  const double sgemm_gflops = embed::measure_sgemm_gflops(pool, 2048, ff, d, 2.0);

  // Warm-up (page in the weights, size the workspace), then the timed run.
  (void)e.embed(std::span<const std::string>(passages.data(), std::min<size_t>(64, passages.size())));
  embed::reset_compute_profile();
  const auto t0 = clock::now();
  auto r = e.embed(passages);
  const double seconds = std::chrono::duration<double>(clock::now() - t0).count();
  if (!r.ok()) return report_error(r.status());
  const embed::ComputeProfile prof = embed::compute_profile();
  size_t tokens = 0;
  for (size_t n : r->n_tokens) tokens += n;
  const double matmul_gflops = prof.matmul_nanoseconds > 0
                                   ? static_cast<double>(prof.matmul_flops) / prof.matmul_nanoseconds
                                   : 0;
  nlohmann::json out = {
      {"model", e.model_id()},
      {"threads", pool.size()},
      {"passages", passages.size()},
      {"tokens", tokens},
      {"truncated", r->n_truncated()},
      {"ragkit",
       {{"seconds", seconds},
        {"tokens_per_s", tokens / seconds},
        {"passages_per_s", passages.size() / seconds},
        {"matmul_gflops", matmul_gflops},
        {"matmul_share_of_time", prof.matmul_nanoseconds / 1e9 / seconds},
        {"peak_rss_mb", peak_rss_mb()}}},
      {"sgemm_gflops", sgemm_gflops},
      {"matmul_share_of_sgemm_rate", sgemm_gflops > 0 ? matmul_gflops / sgemm_gflops : 0},
  };

  if (o.peer == "torch") {
    // The same token ids go to the peer, so tokenization differences cannot skew the comparison
    // (ragkit's time includes its own tokenization; the peer's does not).
    const auto dir = std::filesystem::temp_directory_path() /
                     ("ragkit-bench-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string ids_path = (dir / "ids.jsonl").string();
    const std::string result_path = (dir / "peer.json").string();
    {
      std::ofstream ids(ids_path);
      const embed::Tokenizer& tok = e.tokenizer();
      for (const std::string& p : passages) {
        std::vector<embed::TokenId> v = tok.tokenize(p);
        tok.add_special_tokens(v, e.max_seq_length());
        ids << nlohmann::json{{"ids", v}}.dump() << "\n";
      }
    }
    std::string script = o.peer_script;
    if (script.empty()) script = std::string(RAGKIT_SOURCE_DIR) + "/bench/torch_embed_peer.py";
    const std::string cmd = o.python + " " + script + " --model '" + o.model + "' --input '" + ids_path +
                            "' --threads " + std::to_string(pool.size()) + " --batch " +
                            std::to_string(o.batch) + " --out '" + result_path + "'";
    std::cerr << "rag bench: running the PyTorch peer: " << cmd << "\n";
    int rc = std::system(cmd.c_str());
    std::ifstream res(result_path);
    if (rc != 0 || !res) {
      report_warning("the PyTorch peer failed (exit " + std::to_string(WEXITSTATUS(rc)) +
                     "); install python3-torch or pass --peer none");
    } else {
      nlohmann::json peer = nlohmann::json::parse(res, nullptr, false);
      out["torch"] = peer;
      if (peer.contains("tokens_per_s") && peer["tokens_per_s"].get<double>() > 0) {
        out["speedup_vs_torch"] = (tokens / seconds) / peer["tokens_per_s"].get<double>();
      }
    }
    std::filesystem::remove_all(dir);
  }

  if (o.json) {
    std::cout << out.dump(2) << "\n";
  } else {
    const auto& rk = out["ragkit"];
    std::printf("model            %s (%zu threads)\n", e.model_id().c_str(), static_cast<size_t>(pool.size()));
    std::printf("passages         %zu (%zu tokens, %zu truncated at %zu)\n", passages.size(), tokens,
                r->n_truncated(), e.max_seq_length());
    std::printf("ragkit           %.0f tokens/s  %.1f passages/s  %.2f s  peak RSS %.0f MB\n",
                rk["tokens_per_s"].get<double>(), rk["passages_per_s"].get<double>(), seconds,
                rk["peak_rss_mb"].get<double>());
    std::printf("matrix work      %.1f GFLOP/s = %.0f%% of this machine's sgemm rate (%.1f GFLOP/s); "
                "%.0f%% of the time\n",
                matmul_gflops, 100.0 * out["matmul_share_of_sgemm_rate"].get<double>(), sgemm_gflops,
                100.0 * rk["matmul_share_of_time"].get<double>());
    if (out.contains("torch")) {
      const auto& t = out["torch"];
      std::printf("pytorch %-8s %.0f tokens/s  %.1f passages/s  %.2f s  peak RSS %.0f MB\n",
                  t.value("torch_version", std::string("")).c_str(), t.value("tokens_per_s", 0.0),
                  t.value("passages_per_s", 0.0), t.value("seconds", 0.0), t.value("peak_rss_mb", 0.0));
    }
    if (out.contains("speedup_vs_torch")) {
      std::printf("ratio            ragkit / pytorch = %.2fx\n", out["speedup_vs_torch"].get<double>());
    }
  }
  return flush_stdout().ok() ? 0 : 1;
}

}  // namespace

Command add_bench_command(CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "Measure ragkit's speed against a peer on this machine");
  bench->require_subcommand(1);
  auto opts = std::make_shared<BenchEmbedOptions>();
  CLI::App* embed = bench->add_subcommand(
      "embed", "Embed 1,024 passages of 100-200 words; compare with PyTorch on the same model");
  embed->add_option("--model", opts->model, "GGUF file or Hugging Face model directory")->required();
  embed->add_option("--passages", opts->passages, "How many passages (default 1024)");
  embed->add_option("--corpus", opts->corpus,
                    "BEIR corpus.jsonl to cut passages from (default $RAGKIT_DATA_DIR/scifact)");
  embed->add_option("--peer", opts->peer, "torch (default) or none")->check(CLI::IsMember({"torch", "none"}));
  embed->add_option("--python", opts->python, "Python with torch for the peer (default /usr/bin/python3)");
  embed->add_option("--peer-script", opts->peer_script, "Path of torch_embed_peer.py");
  embed->add_option("--batch", opts->batch, "The peer's batch size (default 32)");
  embed->add_flag("--json", opts->json, "Print the figures as JSON");
  auto gen_opts = std::make_shared<BenchGenerateOptions>();
  CLI::App* generate = bench->add_subcommand(
      "generate", "Prefill a 512-token prompt and decode 128 tokens; compare with the memory "
                  "bandwidth bound and with llama.cpp on the same file");
  add_bench_generate_options(*generate, *gen_opts);
  auto store_opts = std::make_shared<BenchStoreOptions>();
  CLI::App* store = bench->add_subcommand(
      "store", "Insert, search, delete and update random unit vectors in a collection; compare "
               "with a bare FAISS index of the same type");
  add_bench_store_options(*store, *store_opts);
  auto search_opts = std::make_shared<BenchSearchOptions>();
  CLI::App* search = bench->add_subcommand(
      "search", "Query latency of an indexed collection per search mode (p50/p90/p99)");
  add_bench_search_options(*search, *search_opts);
  Command cmd;
  cmd.app = bench;
  cmd.run = [opts, gen_opts, generate, store_opts, store, search_opts, search]() {
    if (store->parsed()) return run_bench_store(*store_opts);
    if (search->parsed()) return run_bench_search(*search_opts);
    return generate->parsed() ? run_bench_generate(*gen_opts) : run_bench_embed(*opts);
  };
  return cmd;
}

}  // namespace ragkit::cli
