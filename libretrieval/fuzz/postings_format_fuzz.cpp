// libFuzzer target for the lexical index's record decoders (lexical/postings_format.h): the
// values a damaged or hostile database hands back. Each decoder must reject or accept any bytes
// without reading past them, and whatever it accepts must survive encode -> decode unchanged.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lexical/postings_format.h"

namespace lexical = ragkit::retrieval::lexical;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  lexical::ChunkTerms chunk;
  if (lexical::decode_chunk_record(bytes, chunk)) {
    lexical::ChunkTerms again;
    if (!lexical::decode_chunk_record(lexical::encode_chunk_record(chunk), again)) {
      __builtin_trap();
    }
    if (again.length != chunk.length || again.terms != chunk.terms) __builtin_trap();
  }

  lexical::CorpusStatistics stats;
  if (lexical::decode_statistics(bytes, stats)) {
    lexical::CorpusStatistics again;
    if (!lexical::decode_statistics(lexical::encode_statistics(stats), again) ||
        again.chunk_count != stats.chunk_count || again.total_length != stats.total_length) {
      __builtin_trap();
    }
  }

  uint64_t tf = 0, length = 0;
  if (lexical::decode_posting(bytes, tf, length)) {
    std::string value;
    lexical::encode_posting(tf, length, value);
    uint64_t tf2 = 0, length2 = 0;
    if (!lexical::decode_posting(value, tf2, length2) || tf2 != tf || length2 != length) {
      __builtin_trap();
    }
  }

  std::string_view rest = bytes;
  uint64_t value = 0;
  while (lexical::read_varint(rest, value)) {
    std::string encoded;
    lexical::append_varint(encoded, value);
    std::string_view view = encoded;
    uint64_t back = 0;
    if (!lexical::read_varint(view, back) || back != value || !view.empty()) __builtin_trap();
  }
  return 0;
}
