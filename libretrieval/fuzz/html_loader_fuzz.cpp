// libFuzzer target for the html loader: any bytes load without crashing (an error is
// fine), and a document that loads keeps the invariants of ingest_fuzz_checks.h, chunked too.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ingest_fuzz_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ragkit::retrieval;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto doc = load_document_from_memory(bytes, FileType::kHtml, "fuzz");
  if (!doc.ok()) return 0;
  fuzz::check_document(*doc, size);
  ChunkOptions options;
  options.chunk_tokens = 24;
  fuzz::check_chunks(*doc, size, options);
  return 0;
}
