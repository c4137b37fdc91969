// The lexical index's keys and values inside its column family, and their encoders/decoders.
//
//   'p' term '\0' chunk_id (8 bytes, big-endian)  -> varint tf, varint chunk_length
//       One posting. Big-endian ids keep a term's postings in chunk-id order; the chunk's
//       length rides along so scoring a posting needs no second lookup. Terms never contain a
//       NUL (TextAnalyzer guarantees it), so "'p' term '\0'" is an exact prefix for one term.
//   'c' chunk_id (8 bytes, big-endian)            -> chunk record (below)
//       What stage_remove needs to delete a chunk's postings: varint chunk_length, varint
//       term_count, then term_count times (varint term_size, term bytes, varint tf), terms in
//       byte order. A chunk without any term has no record and no postings.
//   's'                                           -> corpus statistics (below)
//       byte format_version (1), varint chunk_count, varint total_length (sum of lengths).
//
// Lengths count the terms the analyzer kept (stop words excluded), as Lucene's norms do.
//
// Thread-safety: free functions over values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ragkit::retrieval::lexical {

inline constexpr char kPostingTag = 'p';
inline constexpr char kChunkTag = 'c';
inline constexpr std::string_view kStatisticsKey = "s";
inline constexpr uint8_t kStatisticsFormat = 1;

struct CorpusStatistics {
  uint64_t chunk_count = 0;
  uint64_t total_length = 0;
};

// A chunk's distinct terms with their frequencies, terms in byte order.
struct ChunkTerms {
  uint64_t length = 0;  // sum of the frequencies
  std::vector<std::pair<std::string, uint32_t>> terms;
};

void append_varint(std::string& out, uint64_t value);
// Reads a varint from the front of `in` and drops it; false when `in` ends early or the varint
// runs past 10 bytes.
bool read_varint(std::string_view& in, uint64_t& value);

void append_big_endian64(std::string& out, uint64_t value);
uint64_t read_big_endian64(const char* bytes);  // reads 8 bytes

// "'p' term '\0'": every posting key of `term` starts with it.
void posting_prefix(std::string_view term, std::string& out);
// The prefix followed by the chunk id.
void posting_key(std::string_view term, uint64_t chunk_id, std::string& out);
std::string chunk_key(uint64_t chunk_id);

void encode_posting(uint64_t term_frequency, uint64_t chunk_length, std::string& out);
bool decode_posting(std::string_view value, uint64_t& term_frequency, uint64_t& chunk_length);

// Counts `terms` (in any order) into distinct terms with frequencies.
ChunkTerms count_terms(std::vector<std::string>& terms);
std::string encode_chunk_record(const ChunkTerms& chunk);
bool decode_chunk_record(std::string_view value, ChunkTerms& chunk);

std::string encode_statistics(const CorpusStatistics& stats);
bool decode_statistics(std::string_view value, CorpusStatistics& stats);

}  // namespace ragkit::retrieval::lexical
