#include "store/records.h"

#include <bit>
#include <charconv>
#include <cstring>

namespace ragkit::retrieval::store {
namespace {

// Everything in a record is written through this and read back through Reader.
class Writer {
 public:
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void varint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  void signed_varint(int64_t v) {  // zigzag: small magnitudes stay short
    varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
  }
  void string(std::string_view s) {
    varint(s.size());
    out_.append(s);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  bool u8(uint8_t& v) {
    if (pos_ >= bytes_.size()) return false;
    v = static_cast<uint8_t>(bytes_[pos_++]);
    return true;
  }
  bool varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= bytes_.size()) return false;
      const auto byte = static_cast<uint8_t>(bytes_[pos_++]);
      v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }
  bool varint32(uint32_t& v) {
    uint64_t wide = 0;
    if (!varint(wide) || wide > UINT32_MAX) return false;
    v = static_cast<uint32_t>(wide);
    return true;
  }
  bool signed_varint(int64_t& v) {
    uint64_t z = 0;
    if (!varint(z)) return false;
    v = static_cast<int64_t>((z >> 1) ^ (~(z & 1) + 1));
    return true;
  }
  bool string(std::string& s) {
    uint64_t n = 0;
    if (!varint(n) || n > bytes_.size() - pos_) return false;
    s.assign(bytes_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == bytes_.size(); }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

Status check_version(uint8_t version, std::string_view what) {
  if (version == 0) return Status::corruption(std::string(what) + ": record version 0");
  if (version > kRecordVersion) {
    return Status::not_supported(std::string(what) + ": record version " +
                                 std::to_string(version) + " was written by a newer ragkit");
  }
  return Status::ok_status();
}

void put_be64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t get_be64(std::string_view in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | static_cast<uint8_t>(in[i]);
  return v;
}

void write_location(Writer& w, const ChunkLocation& loc) {
  w.varint(loc.byte_begin);
  w.varint(loc.byte_end);
  w.varint(loc.line_begin);
  w.varint(loc.line_end);
  w.varint(loc.page);
  w.string(loc.heading_path);
}

bool read_location(Reader& r, ChunkLocation& loc) {
  return r.varint(loc.byte_begin) && r.varint(loc.byte_end) && r.varint32(loc.line_begin) &&
         r.varint32(loc.line_end) && r.varint32(loc.page) && r.string(loc.heading_path);
}

void write_ids(Writer& w, const std::vector<uint64_t>& ids) {
  w.varint(ids.size());
  for (uint64_t id : ids) w.varint(id);
}

bool read_ids(Reader& r, std::vector<uint64_t>& ids) {
  uint64_t n = 0;
  if (!r.varint(n)) return false;
  ids.clear();
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t id = 0;
    if (!r.varint(id)) return false;
    ids.push_back(id);
  }
  return true;
}

}  // namespace

std::string chunk_key(uint64_t chunk_id) {
  std::string key;
  put_be64(key, chunk_id);
  return key;
}

Result<uint64_t> parse_chunk_key(std::string_view key) {
  if (key.size() != 8) return Status::corruption("chunk key of " + std::to_string(key.size()) +
                                                 " bytes (expected 8)");
  return get_be64(key);
}

std::string log_key(uint64_t generation) {
  std::string key(kMetaLogPrefix);
  put_be64(key, generation);
  return key;
}

Result<uint64_t> parse_log_key(std::string_view key) {
  if (key.size() != kMetaLogPrefix.size() + 8 || !key.starts_with(kMetaLogPrefix)) {
    return Status::corruption("malformed change-log key");
  }
  return get_be64(key.substr(kMetaLogPrefix.size()));
}

std::string encode_document(const DocumentRecord& d) {
  Writer w;
  w.u8(kRecordVersion);
  w.varint(d.document_id);
  w.string(d.file_type);
  w.signed_varint(d.mtime_ns);
  w.varint(d.size_bytes);
  w.string(d.content_hash);
  w.string(d.title);
  w.varint(d.chunk_count);
  w.varint(d.metadata.size());
  for (const auto& [key, value] : d.metadata) {
    w.string(key);
    w.string(value);
  }
  return w.take();
}

Result<DocumentRecord> decode_document(std::string_view path, std::string_view bytes) {
  const std::string what = "document record of '" + std::string(path) + "'";
  Reader r(bytes);
  DocumentRecord d;
  d.path = path;
  uint8_t version = 0;
  if (!r.u8(version)) return Status::corruption(what + ": empty");
  RAGKIT_RETURN_IF_ERROR(check_version(version, what));
  uint64_t n_metadata = 0;
  if (!(r.varint(d.document_id) && r.string(d.file_type) && r.signed_varint(d.mtime_ns) &&
        r.varint(d.size_bytes) && r.string(d.content_hash) && r.string(d.title) &&
        r.varint32(d.chunk_count) && r.varint(n_metadata))) {
    return Status::corruption(what + ": truncated");
  }
  for (uint64_t i = 0; i < n_metadata; ++i) {
    std::string key, value;
    if (!r.string(key) || !r.string(value)) return Status::corruption(what + ": truncated");
    d.metadata.emplace(std::move(key), std::move(value));
  }
  if (!r.done()) return Status::corruption(what + ": trailing bytes");
  if (d.document_id == 0 || d.document_id > kMaxDocumentId) {
    return Status::corruption(what + ": document id " + std::to_string(d.document_id));
  }
  return d;
}

std::string encode_chunk(const ChunkRecord& c) {
  Writer w;
  w.u8(kRecordVersion);
  w.string(c.text);
  write_location(w, c.location);
  return w.take();
}

Result<ChunkRecord> decode_chunk(uint64_t chunk_id, std::string_view bytes) {
  const std::string what = "chunk record " + std::to_string(chunk_id);
  Reader r(bytes);
  ChunkRecord c;
  c.chunk_id = chunk_id;
  c.document_id = document_id_of(chunk_id);
  c.index = static_cast<uint32_t>(chunk_index_of(chunk_id));
  uint8_t version = 0;
  if (!r.u8(version)) return Status::corruption(what + ": empty");
  RAGKIT_RETURN_IF_ERROR(check_version(version, what));
  if (!(r.string(c.text) && read_location(r, c.location))) {
    return Status::corruption(what + ": truncated");
  }
  if (!r.done()) return Status::corruption(what + ": trailing bytes");
  return c;
}

std::string encode_vector(std::span<const float> vector) {
  static_assert(std::endian::native == std::endian::little, "vectors are stored little-endian");
  return std::string(reinterpret_cast<const char*>(vector.data()), vector.size_bytes());
}

Status decode_vector(uint64_t chunk_id, std::string_view bytes, uint32_t dimension,
                     float* out) {
  if (bytes.size() != size_t{dimension} * sizeof(float)) {
    return Status::corruption("vector of chunk " + std::to_string(chunk_id) + " has " +
                              std::to_string(bytes.size()) + " bytes; the collection's " +
                              std::to_string(dimension) + " dimensions need " +
                              std::to_string(size_t{dimension} * sizeof(float)));
  }
  std::memcpy(out, bytes.data(), bytes.size());
  return Status::ok_status();
}

std::string encode_change_log(const ChangeLogEntry& entry) {
  Writer w;
  w.u8(kRecordVersion);
  write_ids(w, entry.removed);
  write_ids(w, entry.added);
  return w.take();
}

Result<ChangeLogEntry> decode_change_log(uint64_t generation, std::string_view bytes) {
  const std::string what = "change-log entry " + std::to_string(generation);
  Reader r(bytes);
  ChangeLogEntry entry;
  uint8_t version = 0;
  if (!r.u8(version)) return Status::corruption(what + ": empty");
  RAGKIT_RETURN_IF_ERROR(check_version(version, what));
  if (!read_ids(r, entry.removed) || !read_ids(r, entry.added) || !r.done()) {
    return Status::corruption(what + ": truncated");
  }
  return entry;
}

Result<uint64_t> parse_decimal(std::string_view key, std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return Status::corruption("collection metadata '" + std::string(key) +
                              "' is not a number: '" + std::string(text) + "'");
  }
  return value;
}

}  // namespace ragkit::retrieval::store
