// libFuzzer target for the generator tokenizers and the streaming decoder, over the real
// vocabularies of $RAGKIT_TOKENIZERS_DIR (loaded once): Llama's and Phi-3's SentencePiece-BPE,
// and the byte-level BPE of GPT-2, MPT (user-defined space runs), Falcon (bytes it cannot spell,
// three regex passes) and DeepSeek LLM (six passes, 2,398 user-defined tokens).
//
// The bytes are tokenized as text, plain and with special tokens. Then:
//   - every id is in range and plain tokenize() gives no control token;
//   - decoding gives the text back (with invalid UTF-8 repaired to U+FFFD, and for SentencePiece
//     "▁" read as the space it stands for) for every vocabulary that can spell every byte;
//   - the same bytes read as a stream of token ids (two bytes per id) go through TokenTextStream,
//     whose output must be valid UTF-8 after every push and, at the end, exactly the pieces'
//     bytes with ill-formed sequences repaired.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ragkit/embed/gguf.h"
#include "ragkit/embed/token_text_stream.h"
#include "tokenizer/gguf_tokenizer.h"
#include "tokenizer/unicode_text.h"

namespace {

using ragkit::embed::TokenId;
using ragkit::embed::Tokenizer;
using ragkit::embed::TokenTextStream;
namespace detail = ragkit::embed::detail;

struct Vocab {
  std::unique_ptr<Tokenizer> tokenizer;
  bool spells_every_byte;
};

std::unique_ptr<Tokenizer> load(const char* name) {
  const char* dir = std::getenv("RAGKIT_TOKENIZERS_DIR");
  if (dir == nullptr) {
    std::fprintf(stderr, "token_decoder_fuzz: set RAGKIT_TOKENIZERS_DIR\n");
    std::abort();
  }
  const std::string path = std::string(dir) + "/ggml-vocab-" + name + ".gguf";
  auto gguf = ragkit::embed::GgufFile::open(path);
  if (!gguf.ok()) {
    std::fprintf(stderr, "token_decoder_fuzz: %s\n", gguf.status().to_string().c_str());
    std::abort();
  }
  auto tokenizer = ragkit::embed::load_gguf_tokenizer(**gguf);
  if (!tokenizer.ok()) {
    std::fprintf(stderr, "token_decoder_fuzz: %s\n", tokenizer.status().to_string().c_str());
    std::abort();
  }
  return std::move(tokenizer).value();
}

const std::vector<Vocab>& vocabs() {
  static const std::vector<Vocab> all = [] {
    std::vector<Vocab> v;
    v.push_back({load("llama-spm"), true});
    v.push_back({load("phi-3"), true});
    v.push_back({load("gpt-2"), true});
    v.push_back({load("mpt"), true});  // lacks only bytes valid UTF-8 never has
    v.push_back({load("falcon"), false});
    v.push_back({load("deepseek-llm"), true});
    return v;
  }();
  return all;
}

void check_ids(const Tokenizer& t, const std::vector<TokenId>& ids, bool plain) {
  for (TokenId id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= t.vocab_size()) __builtin_trap();
    if (plain && t.is_control(id)) __builtin_trap();
  }
}

void check_stream(const Tokenizer& t, std::string_view bytes) {
  TokenTextStream stream(t);
  std::string out, raw;
  const auto n = static_cast<uint32_t>(t.vocab_size());
  for (size_t i = 0; i + 1 < bytes.size(); i += 2) {
    // Two bytes per id; ids near the byte tokens (3..258 in Llama) and past the end included.
    const uint32_t v = static_cast<uint8_t>(bytes[i]) | (static_cast<uint8_t>(bytes[i + 1]) << 8);
    const auto id = static_cast<TokenId>(v % (n + 16)) - 8;
    raw += t.token_piece(id);
    stream.push(id, out);
    if (!detail::is_valid_utf8(out)) __builtin_trap();
  }
  stream.finish(out);
  if (stream.has_pending() || out != detail::repair_utf8(raw)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string repaired = detail::repair_utf8(text);
  // SentencePiece reads a "▁" in the text as a space, so it decodes as one.
  std::string repaired_spm = repaired;
  for (size_t at; (at = repaired_spm.find("\xE2\x96\x81")) != std::string::npos;) {
    repaired_spm.replace(at, 3, " ");
  }
  for (const Vocab& v : vocabs()) {
    const Tokenizer& t = *v.tokenizer;
    const std::vector<TokenId> ids = t.tokenize(text);
    check_ids(t, ids, /*plain=*/true);
    const bool spm = std::string_view(t.kind()) == "spm";
    if (v.spells_every_byte && t.decode(ids) != (spm ? repaired_spm : repaired)) {
      __builtin_trap();
    }
    check_ids(t, t.tokenize_special(text), /*plain=*/false);
    check_stream(t, text);
  }
  return 0;
}
