// libFuzzer target for a generator's GGUF metadata, end to end: the input is the header of a GGUF
// file (magic, metadata key/values, tensor infos) followed by the tensor data of a tiny llama
// model built at start-up (2 layers, 16 wide, stories260K's real 512-token SentencePiece
// vocabulary from $RAGKIT_MODELS_DIR). Any header must give a Model or an error; when it gives a
// Model, the generator must also prefill, decode, sample and stream text without a crash, an
// out-of-bounds access (ASan) or undefined behaviour (UBSan). The seed corpus is the valid header
// itself (write it with RAGKIT_FUZZ_WRITE_SEED=dir).
//
// Model::load takes a path: the candidate file lives in a memfd, opened through /proc/self/fd.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "ragkit/common/thread_pool.h"
#include "ragkit/embed/generator.h"
#include "ragkit/embed/gguf.h"
#include "ragkit/embed/gguf_writer.h"
#include "ragkit/embed/model.h"
#include "ragkit/embed/token_text_stream.h"

namespace {

using namespace ragkit;
using namespace ragkit::embed;

struct Base {
  std::vector<uint8_t> data;  // tensor data section of the valid file
  std::vector<uint8_t> header;
  int fd = -1;
};

std::vector<uint8_t> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

Base make_base() {
  Base b;
  const char* models = std::getenv("RAGKIT_MODELS_DIR");
  if (models == nullptr) {
    std::fprintf(stderr, "generator_gguf_fuzz: set RAGKIT_MODELS_DIR (stories260K's vocabulary)\n");
    std::abort();
  }
  auto vocab = GgufFile::open(std::string(models) + "/stories260K/stories260K.gguf");
  if (!vocab.ok()) std::abort();
  GgufWriter w;
  for (const auto& [key, value] : (*vocab)->metadata()) {
    if (key.rfind("tokenizer.", 0) == 0) w.set(key, value);
  }
  w.set_string("general.architecture", "llama");
  const int64_t d = 16, ff = 32, layers = 2, vocab_size = 512, kv = 8;
  w.set_uint32("llama.context_length", 64);
  w.set_uint32("llama.embedding_length", d);
  w.set_uint32("llama.feed_forward_length", ff);
  w.set_uint32("llama.block_count", layers);
  w.set_uint32("llama.attention.head_count", 4);
  w.set_uint32("llama.attention.head_count_kv", 2);
  w.set_uint32("llama.rope.dimension_count", 4);
  GgufValue eps;
  eps.type = GgufType::kFloat32;
  eps.f = 1e-5;
  w.set("llama.attention.layer_norm_rms_epsilon", eps);
  uint32_t seed = 1;
  auto add = [&](const std::string& name, int64_t in, int64_t out, bool norm) {
    std::vector<float> v(static_cast<size_t>(in * out));
    for (float& x : v) {
      seed = seed * 1664525u + 1013904223u;
      x = norm ? 1.0f : (static_cast<float>(seed >> 8) / 16777216.0f - 0.5f) * 0.2f;
    }
    (void)w.add_tensor(name, DType::kF32, out == 1 ? 1 : 2, {in, out, 1, 1},
                       {reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(float)});
  };
  add("token_embd.weight", d, vocab_size, false);
  for (int64_t i = 0; i < layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    add(p + "attn_norm.weight", d, 1, true);
    add(p + "attn_q.weight", d, d, false);
    add(p + "attn_k.weight", d, kv, false);
    add(p + "attn_v.weight", d, kv, false);
    add(p + "attn_output.weight", d, d, false);
    add(p + "ffn_norm.weight", d, 1, true);
    add(p + "ffn_gate.weight", d, ff, false);
    add(p + "ffn_up.weight", d, ff, false);
    add(p + "ffn_down.weight", ff, d, false);
  }
  add("output_norm.weight", d, 1, true);
  char tmpl[] = "/tmp/ragkit-gen-fuzz-XXXXXX";
  const int tmp = ::mkstemp(tmpl);
  if (tmp < 0 || !w.write(tmpl).ok()) std::abort();
  ::close(tmp);
  const std::vector<uint8_t> file = read_all(tmpl);
  ::unlink(tmpl);
  auto parsed = GgufFile::parse(file, "base");
  if (!parsed.ok()) std::abort();
  const size_t split = (*parsed)->data_offset();
  b.header.assign(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(split));
  b.data.assign(file.begin() + static_cast<std::ptrdiff_t>(split), file.end());
  if (const char* dir = std::getenv("RAGKIT_FUZZ_WRITE_SEED")) {
    std::ofstream(std::string(dir) + "/generator-header", std::ios::binary)
        .write(reinterpret_cast<const char*>(b.header.data()), static_cast<std::streamsize>(b.header.size()));
  }
  b.fd = ::memfd_create("ragkit-fuzz-gguf", 0);
  if (b.fd < 0) std::abort();
  return b;
}

Base& base() {
  static Base b = make_base();
  return b;
}

// Loads the candidate (fuzzed header + the valid tensor data) and, when it is a model, generates
// a few tokens. Returns whether everything succeeded; errors are fine for fuzzed headers.
bool run_candidate(const uint8_t* bytes, size_t size) {
  Base& b = base();
  if (::ftruncate(b.fd, 0) != 0) return false;
  if (::pwrite(b.fd, bytes, size, 0) != static_cast<ssize_t>(size)) return false;
  if (::pwrite(b.fd, b.data.data(), b.data.size(), static_cast<off_t>(size)) !=
      static_cast<ssize_t>(b.data.size())) {
    return false;
  }
  const std::string path = "/proc/self/fd/" + std::to_string(b.fd);
  auto model = Model::load(path);
  if (!model.ok()) return false;
  const Model& m = **model;
  static ThreadPool pool(1);
  GeneratorOptions options;
  options.n_ctx = 16;
  auto gen = Generator::create(m, pool, options);
  if (!gen.ok()) return false;
  std::vector<TokenId> prompt = m.tokenizer().encode_prompt("Once upon a time");
  if (prompt.empty() || prompt.size() > 8) prompt = {0};
  SamplingOptions sampling;
  sampling.max_tokens = 6;
  sampling.seed = 7;
  auto out = (*gen)->generate(prompt, sampling, [](std::string_view) { return true; });
  return out.ok();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // The unfuzzed header must load and generate, or the fuzzer would only ever test errors.
  const Base& b = base();
  if (!run_candidate(b.header.data(), b.header.size())) {
    std::fprintf(stderr, "generator_gguf_fuzz: the base model does not load and generate\n");
    std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  run_candidate(bytes, size);
  return 0;
}
