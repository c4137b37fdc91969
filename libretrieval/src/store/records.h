// The byte layouts of everything the collection keeps in RocksDB.
//
// Keys
//   documents CF  document path (UTF-8 bytes)               -> DocumentRecord
//   chunks CF     chunk id, 8 bytes big-endian              -> ChunkRecord
//   vectors CF    chunk id, 8 bytes big-endian              -> dimension x float32, little-endian,
//                                                              unit length
//   meta CF       "schema_version", "model_id", "dimension", "index_factory",
//                 "next_document_id", "created_unix", "generation" -> decimal / UTF-8 text
//                 "log/" + generation, 8 bytes big-endian    -> ChangeLogEntry
// Big-endian chunk ids sort numerically, so a document's chunks are adjacent.
//
// Records (documents, chunks, change-log entries) are compact binary, versioned by their first
// byte (kRecordVersion = 1): unsigned integers as LEB128 varints, signed ones zigzag-encoded,
// strings as a varint length and the bytes. Decoders check every length against the value and
// report corruption naming the key; a record version newer than this build is "written by a
// newer ragkit". Adding a field means a new record version that still decodes the old one.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/retrieval/document.h"

namespace ragkit::retrieval::store {

inline constexpr uint8_t kRecordVersion = 1;

// Column family names.
inline constexpr const char* kDocumentsFamily = "documents";
inline constexpr const char* kChunksFamily = "chunks";
inline constexpr const char* kVectorsFamily = "vectors";
inline constexpr const char* kLexicalFamily = "lexical";
inline constexpr const char* kMetaFamily = "meta";

// Meta keys.
inline constexpr std::string_view kMetaSchemaVersion = "schema_version";
inline constexpr std::string_view kMetaModelId = "model_id";
inline constexpr std::string_view kMetaDimension = "dimension";
inline constexpr std::string_view kMetaIndexFactory = "index_factory";
inline constexpr std::string_view kMetaNextDocumentId = "next_document_id";
inline constexpr std::string_view kMetaCreatedUnix = "created_unix";
inline constexpr std::string_view kMetaGeneration = "generation";
inline constexpr std::string_view kMetaLogPrefix = "log/";
// Present while Collection::add_vectors is upgrading a lexical-only collection: the model,
// dimension and index type whose vectors the vectors family holds so far (JSON).
inline constexpr std::string_view kMetaVectorUpgrade = "vector_upgrade";

std::string chunk_key(uint64_t chunk_id);
Result<uint64_t> parse_chunk_key(std::string_view key);
std::string log_key(uint64_t generation);
Result<uint64_t> parse_log_key(std::string_view key);

std::string encode_document(const DocumentRecord& record);
Result<DocumentRecord> decode_document(std::string_view path, std::string_view bytes);

std::string encode_chunk(const ChunkRecord& record);
Result<ChunkRecord> decode_chunk(uint64_t chunk_id, std::string_view bytes);

std::string encode_vector(std::span<const float> vector);
// Checks the size against `dimension`.
Status decode_vector(uint64_t chunk_id, std::string_view bytes, uint32_t dimension,
                     float* out);

// The chunk ids one write removed and added, in the order to replay them (removals first).
struct ChangeLogEntry {
  std::vector<uint64_t> removed;
  std::vector<uint64_t> added;
};
std::string encode_change_log(const ChangeLogEntry& entry);
Result<ChangeLogEntry> decode_change_log(uint64_t generation, std::string_view bytes);

// Decimal text for the meta values.
Result<uint64_t> parse_decimal(std::string_view key, std::string_view text);

}  // namespace ragkit::retrieval::store
