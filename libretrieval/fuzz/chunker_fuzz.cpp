// libFuzzer target for the chunker. Byte 0 picks the loader (text, code, Markdown, HTML), byte 1
// the budget (1-64 tokens) and byte 2 the overlap (0-3 sentences, share 0-0.9); the rest is the
// file. Every chunk must keep the invariants of ingest_fuzz_checks.h whatever the text: very
// long words, zalgo text, lone newlines, scripts ICU segments differently.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ingest_fuzz_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ragkit::retrieval;
  if (size < 3) return 0;
  static constexpr FileType kTypes[] = {FileType::kText, FileType::kCode, FileType::kMarkdown,
                                        FileType::kHtml};
  const FileType type = kTypes[data[0] % 4];
  ChunkOptions options;
  options.chunk_tokens = 1 + data[1] % 64;
  options.overlap_sentences = data[2] % 4;
  options.max_overlap_share = static_cast<double>(data[2] >> 4) / 16.0 * 0.9;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 3), size - 3);
  auto doc = load_document_from_memory(bytes, type, "fuzz");
  if (!doc.ok()) return 0;
  fuzz::check_document(*doc, bytes.size());
  fuzz::check_chunks(*doc, bytes.size(), options);
  return 0;
}
