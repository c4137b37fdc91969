// libFuzzer target for the pdf loader: any bytes load without crashing (an error is
// fine), and a document that loads keeps the invariants of ingest_fuzz_checks.h, chunked too.
#include <cstddef>
#include <cstdint>

#include "ingest_fuzz_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return ragkit::retrieval::fuzz::fuzz_loader(data, size, ragkit::retrieval::FileType::kPdf);
}
