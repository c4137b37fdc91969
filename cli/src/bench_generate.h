// `rag bench generate`: prefill and decode speed of a causal model against the memory-bandwidth
// bound of decoding and against llama.cpp (bench/llamacpp_peer) on the same file and machine.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "ragkit/embed/kv_cache.h"
#include "ragkit/embed/model.h"

namespace ragkit::cli {

struct BenchGenerateOptions {
  std::string model;
  int64_t prompt_tokens = 512;
  int64_t decode_tokens = 128;
  int repeat = 3;
  std::string peer = "llama.cpp";
  std::string peer_script;  // default: bench/llamacpp_peer/run.sh in the source tree
  bool json = false;
  embed::KvType cache_type = embed::KvType::kF16;  // also the peer's (--kv-type)
  embed::ModelLoadOptions load;                    // --no-mmap (the peer maps its file)
};

void add_bench_generate_options(CLI::App& command, BenchGenerateOptions& options);
int run_bench_generate(const BenchGenerateOptions& options);

// The benchmark prompt, shared with the peer so both run the same ids: BOS (or token 3 when the
// model has none) then id_i = 3 + (i * 7919) mod (n_vocab - 3).
std::vector<int32_t> bench_prompt_ids(int64_t n_tokens, int64_t n_vocab, int32_t bos);

}  // namespace ragkit::cli
