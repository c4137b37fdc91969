#include "lexical/postings_format.h"

#include <algorithm>

namespace ragkit::retrieval::lexical {

void append_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

bool read_varint(std::string_view& in, uint64_t& value) {
  value = 0;
  for (size_t i = 0; i < in.size() && i < 10; ++i) {
    const auto byte = static_cast<uint8_t>(in[i]);
    value |= static_cast<uint64_t>(byte & 0x7F) << (7 * i);
    if ((byte & 0x80) == 0) {
      in.remove_prefix(i + 1);
      return true;
    }
  }
  return false;
}

void append_big_endian64(std::string& out, uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(value >> shift));
}

uint64_t read_big_endian64(const char* bytes) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value = (value << 8) | static_cast<uint8_t>(bytes[i]);
  return value;
}

void posting_prefix(std::string_view term, std::string& out) {
  out.clear();
  out.push_back(kPostingTag);
  out.append(term);
  out.push_back('\0');
}

void posting_key(std::string_view term, uint64_t chunk_id, std::string& out) {
  posting_prefix(term, out);
  append_big_endian64(out, chunk_id);
}

std::string chunk_key(uint64_t chunk_id) {
  std::string key(1, kChunkTag);
  append_big_endian64(key, chunk_id);
  return key;
}

void encode_posting(uint64_t term_frequency, uint64_t chunk_length, std::string& out) {
  out.clear();
  append_varint(out, term_frequency);
  append_varint(out, chunk_length);
}

bool decode_posting(std::string_view value, uint64_t& term_frequency, uint64_t& chunk_length) {
  return read_varint(value, term_frequency) && read_varint(value, chunk_length) && value.empty() &&
         term_frequency > 0 && chunk_length >= term_frequency;
}

ChunkTerms count_terms(std::vector<std::string>& terms) {
  std::sort(terms.begin(), terms.end());
  ChunkTerms chunk;
  chunk.length = terms.size();
  for (size_t i = 0; i < terms.size();) {
    size_t j = i + 1;
    while (j < terms.size() && terms[j] == terms[i]) ++j;
    chunk.terms.emplace_back(std::move(terms[i]), static_cast<uint32_t>(j - i));
    i = j;
  }
  return chunk;
}

std::string encode_chunk_record(const ChunkTerms& chunk) {
  std::string out;
  append_varint(out, chunk.length);
  append_varint(out, chunk.terms.size());
  for (const auto& [term, frequency] : chunk.terms) {
    append_varint(out, term.size());
    out.append(term);
    append_varint(out, frequency);
  }
  return out;
}

bool decode_chunk_record(std::string_view value, ChunkTerms& chunk) {
  chunk = {};
  uint64_t term_count = 0;
  if (!read_varint(value, chunk.length) || !read_varint(value, term_count)) return false;
  // Each term takes at least 3 bytes; a count beyond that is corrupt, not a reason to reserve.
  if (term_count > value.size() / 3) return false;
  chunk.terms.reserve(term_count);
  uint64_t sum = 0;
  for (uint64_t i = 0; i < term_count; ++i) {
    uint64_t size = 0, frequency = 0;
    if (!read_varint(value, size) || size == 0 || size > value.size()) return false;
    std::string term(value.substr(0, size));
    value.remove_prefix(size);
    if (!read_varint(value, frequency) || frequency == 0 || frequency > UINT32_MAX) return false;
    sum += frequency;
    chunk.terms.emplace_back(std::move(term), static_cast<uint32_t>(frequency));
  }
  return value.empty() && sum == chunk.length;
}

std::string encode_statistics(const CorpusStatistics& stats) {
  std::string out(1, static_cast<char>(kStatisticsFormat));
  append_varint(out, stats.chunk_count);
  append_varint(out, stats.total_length);
  return out;
}

bool decode_statistics(std::string_view value, CorpusStatistics& stats) {
  if (value.empty() || static_cast<uint8_t>(value[0]) != kStatisticsFormat) return false;
  value.remove_prefix(1);
  return read_varint(value, stats.chunk_count) && read_varint(value, stats.total_length) &&
         value.empty();
}

}  // namespace ragkit::retrieval::lexical
