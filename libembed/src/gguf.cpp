// GGUF reader. The format (ggml's docs/gguf.md), all little-endian:
//
//   "GGUF" | u32 version | u64 n_tensors | u64 n_kv
//   n_kv x     { string key | u32 value_type | value }
//   n_tensors x { string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset }
//   padding to general.alignment (default 32) | data section (tensor offsets are relative to it)
//
// where string = u64 length + bytes and array = u32 element_type + u64 count + elements.
// The file is untrusted: every read goes through a Cursor that checks the remaining length, and
// every count read from the file is bounded by the bytes that remain before anything is allocated
// for it, so a short or hostile file costs at most time and memory proportional to its size.
#include "ragkit/embed/gguf.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>

namespace ragkit::embed {

const char* gguf_type_name(GgufType type) {
  switch (type) {
    case GgufType::kUint8:
      return "uint8";
    case GgufType::kInt8:
      return "int8";
    case GgufType::kUint16:
      return "uint16";
    case GgufType::kInt16:
      return "int16";
    case GgufType::kUint32:
      return "uint32";
    case GgufType::kInt32:
      return "int32";
    case GgufType::kFloat32:
      return "float32";
    case GgufType::kBool:
      return "bool";
    case GgufType::kString:
      return "string";
    case GgufType::kArray:
      return "array";
    case GgufType::kUint64:
      return "uint64";
    case GgufType::kInt64:
      return "int64";
    case GgufType::kFloat64:
      return "float64";
  }
  return "unknown";
}

namespace {

constexpr uint32_t kMaxKnownValueType = 12;  // kFloat64
constexpr int kMaxDims = 4;                  // GGML_MAX_DIMS
// Nested arrays are legal but no real file nests them; the limit keeps a hostile file from
// recursing deep enough to exhaust the stack.
constexpr int kMaxArrayDepth = 8;
// Smallest encodings, used to bound counts read from the file by the bytes that remain:
// a key-value pair is at least an empty key (8), a type (4) and a one-byte value; a tensor info
// at least an empty name (8), n_dims (4), one dimension (8), a type (4) and an offset (8).
constexpr uint64_t kMinKeyValueBytes = 8 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;
// Arrays reserve at most this many elements before they are read; vocabularies grow past it.
constexpr uint64_t kMaxInitialReserve = 1 << 16;

bool is_integer_type(GgufType t) {
  switch (t) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kUint16:
    case GgufType::kInt16:
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kUint64:
    case GgufType::kInt64:
      return true;
    default:
      return false;
  }
}

bool is_signed_type(GgufType t) {
  return t == GgufType::kInt8 || t == GgufType::kInt16 || t == GgufType::kInt32 ||
         t == GgufType::kInt64;
}

bool is_float_type(GgufType t) { return t == GgufType::kFloat32 || t == GgufType::kFloat64; }

// Bytes one value of `type` occupies at least (strings and arrays: their empty encoding).
uint64_t min_value_bytes(GgufType type) {
  switch (type) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kBool:
      return 1;
    case GgufType::kUint16:
    case GgufType::kInt16:
      return 2;
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kFloat32:
      return 4;
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kFloat64:
      return 8;
    case GgufType::kString:
      return 8;
    case GgufType::kArray:
      return 4 + 8;
  }
  return 1;
}

// ggml type ids that exist upstream but ragkit does not read (IQ*, TQ*, MXFP4): named in the
// error so the user knows to re-quantize rather than suspect a corrupt download.
const char* upstream_only_type_name(uint32_t id) {
  switch (id) {
    case 16:
      return "IQ2_XXS";
    case 17:
      return "IQ2_XS";
    case 18:
      return "IQ3_XXS";
    case 19:
      return "IQ1_S";
    case 20:
      return "IQ4_NL";
    case 21:
      return "IQ3_S";
    case 22:
      return "IQ2_S";
    case 23:
      return "IQ4_XS";
    case 29:
      return "IQ1_M";
    case 34:
      return "TQ1_0";
    case 35:
      return "TQ2_0";
    case 39:
      return "MXFP4";
    default:
      return nullptr;
  }
}

std::string shape_string(DType dtype, int n_dims, const std::array<int64_t, 4>& ne) {
  std::string s = dtype_name(dtype);
  s += " [";
  for (int d = 0; d < n_dims; ++d) {
    if (d) s += ", ";
    s += std::to_string(ne[d]);
  }
  s += "]";
  return s;
}

// Bounds-checked little-endian reads over the file bytes. A failed read consumes nothing.
class Cursor {
 public:
  explicit Cursor(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  size_t pos() const { return pos_; }
  size_t size() const { return bytes_.size(); }
  size_t remaining() const { return bytes_.size() - pos_; }

  bool read_u8(uint8_t& out) {
    if (remaining() < 1) return false;
    out = bytes_[pos_++];
    return true;
  }
  bool read_u16(uint16_t& out) {
    uint64_t v;
    if (!read_le(2, v)) return false;
    out = static_cast<uint16_t>(v);
    return true;
  }
  bool read_u32(uint32_t& out) {
    uint64_t v;
    if (!read_le(4, v)) return false;
    out = static_cast<uint32_t>(v);
    return true;
  }
  bool read_u64(uint64_t& out) { return read_le(8, out); }

  // Copies n bytes into `out`.
  bool read_chars(uint64_t n, std::string& out) {
    if (n > remaining()) return false;
    out.assign(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return true;
  }

 private:
  bool read_le(size_t n, uint64_t& out) {
    if (remaining() < n) return false;
    uint64_t v = 0;
    for (size_t k = 0; k < n; ++k) v |= static_cast<uint64_t>(bytes_[pos_ + k]) << (8 * k);
    pos_ += n;
    out = v;
    return true;
  }

  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

}  // namespace

// Fills a GgufFile from its bytes. Keeps a description of what it is reading (`context_` plus the
// indices of the array elements being read) so that any error can say where it happened without
// building strings on the success path.
class GgufParser {
 public:
  GgufParser(GgufFile& file, std::span<const uint8_t> bytes) : file_(file), cursor_(bytes) {}

  Status parse() {
    RAGKIT_RETURN_IF_ERROR(parse_header());
    RAGKIT_RETURN_IF_ERROR(parse_metadata());
    RAGKIT_RETURN_IF_ERROR(parse_alignment());
    RAGKIT_RETURN_IF_ERROR(parse_tensor_infos());
    return place_tensors();
  }

 private:
  std::string prefix() const { return file_.name_ + ": "; }
  Status corrupt(const std::string& msg) const { return Status::corruption(prefix() + msg); }

  std::string location() const {
    std::string s = context_;
    for (uint64_t i : index_path_) {
      s += '[';
      s += std::to_string(i);
      s += ']';
    }
    return s;
  }

  // `what` of `n` bytes at the cursor does not fit in the file.
  Status truncated(std::string_view what, size_t n) const {
    return corrupt("truncated: " + location() + ": " + std::string(what) + " (" +
                   std::to_string(n) + " bytes) at byte " + std::to_string(cursor_.pos()) +
                   " is past the end of the " + std::to_string(cursor_.size()) + "-byte file");
  }

  Status parse_header() {
    context_ = "header";
    std::string magic;
    if (!cursor_.read_chars(4, magic)) return truncated("the magic \"GGUF\"", 4);
    if (magic != "GGUF") {
      std::string shown;
      for (unsigned char c : magic) {
        shown += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
      }
      return Status::invalid_argument(prefix() + "not a GGUF file: the first 4 bytes are \"" +
                                      shown + "\", not \"GGUF\"");
    }
    uint32_t version = 0;
    if (!cursor_.read_u32(version)) return truncated("the version", 4);
    const uint32_t swapped = ((version & 0xffu) << 24) | ((version & 0xff00u) << 8) |
                             ((version >> 8) & 0xff00u) | (version >> 24);
    if (version != swapped && swapped >= 1 && swapped <= 3) {
      return Status::not_supported(prefix() + "the version field reads " + std::to_string(version) +
                                   ", which is version " + std::to_string(swapped) +
                                   " byte-swapped: a big-endian GGUF file; only little-endian "
                                   "files are supported");
    }
    if (version == 1) {
      return Status::not_supported(prefix() +
                                   "GGUF version 1 is not supported (only versions 2 and 3); "
                                   "convert the model again with a recent llama.cpp");
    }
    if (version != 2 && version != 3) {
      return Status::not_supported(prefix() + "GGUF version " + std::to_string(version) +
                                   " is not supported (only versions 2 and 3)");
    }
    file_.version_ = version;
    if (!cursor_.read_u64(n_tensors_)) return truncated("the tensor count", 8);
    if (!cursor_.read_u64(n_kv_)) return truncated("the metadata count", 8);
    // Bound both counts by the file size before they drive any loop or allocation.
    const uint64_t rest = cursor_.remaining();
    if (n_kv_ > rest / kMinKeyValueBytes || n_tensors_ > rest / kMinTensorInfoBytes ||
        n_kv_ * kMinKeyValueBytes + n_tensors_ * kMinTensorInfoBytes > rest) {
      return corrupt("the header declares " + std::to_string(n_kv_) + " metadata entries and " +
                     std::to_string(n_tensors_) + " tensors, which cannot fit in the " +
                     std::to_string(rest) + " bytes after the header (each metadata entry takes " +
                     "at least " + std::to_string(kMinKeyValueBytes) + " bytes, each tensor info " +
                     std::to_string(kMinTensorInfoBytes) + ")");
    }
    return Status();
  }

  Status read_string(std::string& out, const char* what) {
    uint64_t len = 0;
    if (!cursor_.read_u64(len)) return truncated(std::string("the length of ") + what, 8);
    if (len > cursor_.remaining()) {
      return corrupt(location() + ": " + what + " at byte " + std::to_string(cursor_.pos() - 8) +
                     " has length " + std::to_string(len) + " but only " +
                     std::to_string(cursor_.remaining()) + " bytes remain in the file");
    }
    cursor_.read_chars(len, out);
    return Status();
  }

  Status read_value_type(GgufType& out, const char* what) {
    uint32_t t = 0;
    if (!cursor_.read_u32(t)) return truncated(what, 4);
    if (t > kMaxKnownValueType) {
      return corrupt(location() + ": unknown " + what + " " + std::to_string(t) + " at byte " +
                     std::to_string(cursor_.pos() - 4) + " (known types are 0 to 12)");
    }
    out = static_cast<GgufType>(t);
    return Status();
  }

  Status read_value(GgufType type, GgufValue& v, int depth) {
    v.type = type;
    const char* what = "the value";
    switch (type) {
      case GgufType::kUint8:
      case GgufType::kBool: {
        uint8_t x;
        if (!cursor_.read_u8(x)) return truncated(what, 1);
        v.u = type == GgufType::kBool ? (x != 0) : x;
        return Status();
      }
      case GgufType::kInt8: {
        uint8_t x;
        if (!cursor_.read_u8(x)) return truncated(what, 1);
        v.i = static_cast<int8_t>(x);
        return Status();
      }
      case GgufType::kUint16:
      case GgufType::kInt16: {
        uint16_t x;
        if (!cursor_.read_u16(x)) return truncated(what, 2);
        if (type == GgufType::kUint16)
          v.u = x;
        else
          v.i = static_cast<int16_t>(x);
        return Status();
      }
      case GgufType::kUint32:
      case GgufType::kInt32:
      case GgufType::kFloat32: {
        uint32_t x;
        if (!cursor_.read_u32(x)) return truncated(what, 4);
        if (type == GgufType::kUint32)
          v.u = x;
        else if (type == GgufType::kInt32)
          v.i = static_cast<int32_t>(x);
        else
          v.f = std::bit_cast<float>(x);
        return Status();
      }
      case GgufType::kUint64:
      case GgufType::kInt64:
      case GgufType::kFloat64: {
        uint64_t x;
        if (!cursor_.read_u64(x)) return truncated(what, 8);
        if (type == GgufType::kUint64)
          v.u = x;
        else if (type == GgufType::kInt64)
          v.i = static_cast<int64_t>(x);
        else
          v.f = std::bit_cast<double>(x);
        return Status();
      }
      case GgufType::kString:
        return read_string(v.str, "the string");
      case GgufType::kArray:
        return read_array(v, depth);
    }
    return Status::internal(prefix() + "unhandled value type");
  }

  Status read_array(GgufValue& v, int depth) {
    const size_t at = cursor_.pos();
    RAGKIT_RETURN_IF_ERROR(read_value_type(v.array_type, "array element type"));
    if (v.array_type == GgufType::kArray && depth + 1 >= kMaxArrayDepth) {
      return corrupt(location() + ": arrays nested more than " + std::to_string(kMaxArrayDepth) +
                     " levels deep at byte " + std::to_string(at));
    }
    uint64_t count = 0;
    if (!cursor_.read_u64(count)) return truncated("the array length", 8);
    const uint64_t min_bytes = min_value_bytes(v.array_type);
    if (count > cursor_.remaining() / min_bytes) {
      return corrupt(location() + ": array of " + std::to_string(count) + " " +
                     gguf_type_name(v.array_type) + " elements at byte " + std::to_string(at) +
                     " cannot fit in the " + std::to_string(cursor_.remaining()) +
                     " bytes that remain in the file");
    }
    // `count` now fits in the remaining bytes. Memory still grows only with elements actually
    // read, so nested arrays that each claim the rest of the file cannot multiply the allocation.
    const size_t initial = static_cast<size_t>(std::min<uint64_t>(count, kMaxInitialReserve));
    index_path_.push_back(0);
    if (v.array_type == GgufType::kString) {
      v.strings.reserve(initial);
      for (uint64_t j = 0; j < count; ++j) {
        index_path_.back() = j;
        RAGKIT_RETURN_IF_ERROR(read_string(v.strings.emplace_back(), "the string"));
      }
    } else {
      v.array.reserve(initial);
      for (uint64_t j = 0; j < count; ++j) {
        index_path_.back() = j;
        RAGKIT_RETURN_IF_ERROR(read_value(v.array_type, v.array.emplace_back(), depth + 1));
      }
    }
    index_path_.pop_back();
    return Status();
  }

  Status parse_metadata() {
    file_.metadata_.reserve(static_cast<size_t>(n_kv_));
    for (uint64_t k = 0; k < n_kv_; ++k) {
      context_ = "metadata entry " + std::to_string(k) + " of " + std::to_string(n_kv_);
      const size_t at = cursor_.pos();
      std::string key;
      RAGKIT_RETURN_IF_ERROR(read_string(key, "the key"));
      context_ = "metadata key '" + key + "'";
      if (file_.metadata_index_.count(key)) {
        return corrupt(location() + " at byte " + std::to_string(at) +
                       " appears twice (first as entry " +
                       std::to_string(file_.metadata_index_[key]) + ")");
      }
      GgufValue value;
      GgufType type;
      RAGKIT_RETURN_IF_ERROR(read_value_type(type, "value type"));
      RAGKIT_RETURN_IF_ERROR(read_value(type, value, 0));
      file_.metadata_index_.emplace(key, file_.metadata_.size());
      file_.metadata_.emplace_back(std::move(key), std::move(value));
    }
    return Status();
  }

  Status parse_alignment() {
    const GgufValue* v = file_.find("general.alignment");
    if (v == nullptr) return Status();  // the default, 32
    context_ = "metadata key 'general.alignment'";
    uint64_t a = 0;
    if (is_integer_type(v->type) && is_signed_type(v->type)) {
      if (v->i <= 0)
        return corrupt(context_ + " is " + std::to_string(v->i) +
                       "; it must be a nonzero power of two");
      a = static_cast<uint64_t>(v->i);
    } else if (is_integer_type(v->type)) {
      a = v->u;
    } else {
      return corrupt(context_ + " has type " + gguf_type_name(v->type) +
                     "; it must be an integer (uint32)");
    }
    if (!std::has_single_bit(a)) {
      return corrupt(context_ + " is " + std::to_string(a) + "; it must be a nonzero power of two");
    }
    file_.alignment_ = a;
    return Status();
  }

  Status parse_tensor_infos() {
    if (n_tensors_ > cursor_.remaining() / kMinTensorInfoBytes) {
      return corrupt("the header declares " + std::to_string(n_tensors_) + " tensors, but only " +
                     std::to_string(cursor_.remaining()) +
                     " bytes remain after the metadata (each tensor info takes at least " +
                     std::to_string(kMinTensorInfoBytes) + ")");
    }
    file_.tensors_.reserve(static_cast<size_t>(n_tensors_));
    for (uint64_t t = 0; t < n_tensors_; ++t) {
      context_ = "tensor info " + std::to_string(t) + " of " + std::to_string(n_tensors_);
      GgufTensorInfo info;
      RAGKIT_RETURN_IF_ERROR(read_string(info.name, "the tensor name"));
      context_ = "tensor '" + info.name + "'";
      if (file_.tensor_index_.count(info.name)) {
        return corrupt(context_ + " (tensor info " + std::to_string(t) +
                       ") has the same name as tensor info " +
                       std::to_string(file_.tensor_index_[info.name]));
      }
      uint32_t n_dims = 0;
      if (!cursor_.read_u32(n_dims)) return truncated("the number of dimensions", 4);
      if (n_dims < 1 || n_dims > kMaxDims) {
        return corrupt(context_ + " has n_dims " + std::to_string(n_dims) + " at byte " +
                       std::to_string(cursor_.pos() - 4) + "; tensors have 1 to " +
                       std::to_string(kMaxDims) + " dimensions");
      }
      info.n_dims = static_cast<int>(n_dims);
      int64_t n_elements = 1;
      for (uint32_t d = 0; d < n_dims; ++d) {
        uint64_t ne = 0;
        if (!cursor_.read_u64(ne)) return truncated("a dimension", 8);
        if (ne == 0 || ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          return corrupt(context_ + ": dimension " + std::to_string(d) + " is " +
                         std::to_string(static_cast<int64_t>(ne)) +
                         "; dimensions must be positive");
        }
        info.ne[d] = static_cast<int64_t>(ne);
        if (__builtin_mul_overflow(n_elements, info.ne[d], &n_elements)) {
          return corrupt(context_ + ": the number of elements overflows 64 bits (dimension " +
                         std::to_string(d) + " is " + std::to_string(ne) + ")");
        }
      }
      uint32_t type_id = 0;
      if (!cursor_.read_u32(type_id)) return truncated("the tensor type", 4);
      info.dtype = static_cast<DType>(type_id);
      const DTypeTraits traits = dtype_traits(info.dtype);
      if (!traits.known) {
        if (const char* upstream = upstream_only_type_name(type_id)) {
          return Status::not_supported(prefix() + context_ + " has type " + upstream +
                                       " (ggml id " + std::to_string(type_id) +
                                       "), which ragkit does not support; use a model quantized "
                                       "to F32, F16, BF16, Q4_0..Q8_0 or a K-quant");
        }
        return corrupt(context_ + " has unknown ggml type id " + std::to_string(type_id) +
                       " at byte " + std::to_string(cursor_.pos() - 4));
      }
      if (!cursor_.read_u64(info.offset)) return truncated("the tensor offset", 8);
      const std::string shape = shape_string(info.dtype, info.n_dims, info.ne);
      if (info.ne[0] % traits.block_size != 0) {
        return corrupt(context_ + " (" + shape + "): the row length " + std::to_string(info.ne[0]) +
                       " is not a multiple of the " + traits.name + " block size " +
                       std::to_string(traits.block_size));
      }
      uint64_t row = 0;
      const uint64_t n_rows = static_cast<uint64_t>(n_elements / info.ne[0]);
      uint64_t n_bytes = 0;
      if (__builtin_mul_overflow(static_cast<uint64_t>(info.ne[0] / traits.block_size),
                                 uint64_t{traits.type_size}, &row) ||
          __builtin_mul_overflow(row, n_rows, &n_bytes) ||
          n_bytes > std::numeric_limits<size_t>::max()) {
        return corrupt(context_ + " (" + shape + "): the size in bytes overflows 64 bits");
      }
      info.n_bytes = static_cast<size_t>(n_bytes);
      file_.tensor_index_.emplace(info.name, file_.tensors_.size());
      file_.tensors_.push_back(std::move(info));
    }
    return Status();
  }

  Status place_tensors() {
    const uint64_t align = file_.alignment_;
    const uint64_t header_end = cursor_.pos();
    const uint64_t pad = (align - header_end % align) % align;
    const uint64_t size = cursor_.size();
    if (header_end > std::numeric_limits<uint64_t>::max() - pad) {
      return corrupt("the data section offset overflows with alignment " + std::to_string(align));
    }
    const uint64_t data_offset = header_end + pad;
    file_.data_offset_ = static_cast<size_t>(data_offset);
    if (file_.tensors_.empty()) return Status();  // vocabulary-only files end with the metadata
    if (data_offset > size) {
      return corrupt("the data section starts at byte " + std::to_string(data_offset) +
                     " (the header ends at byte " + std::to_string(header_end) + ", aligned to " +
                     std::to_string(align) + ") but the file has " + std::to_string(size) +
                     " bytes");
    }
    for (const GgufTensorInfo& info : file_.tensors_) {
      const std::string where =
          "tensor '" + info.name + "' (" + shape_string(info.dtype, info.n_dims, info.ne) + ")";
      if (info.offset % align != 0) {
        return corrupt(where + " has offset " + std::to_string(info.offset) +
                       " in the data section, which is not a multiple of the alignment " +
                       std::to_string(align));
      }
      uint64_t start = 0, end = 0;
      if (__builtin_add_overflow(data_offset, info.offset, &start) ||
          __builtin_add_overflow(start, static_cast<uint64_t>(info.n_bytes), &end) || end > size) {
        const std::string end_text =
            end >= start && start >= data_offset ? std::to_string(end) : "beyond 2^64";
        return corrupt(where + " ends at byte " + end_text + " but the file has " +
                       std::to_string(size) + " bytes");
      }
    }
    // Overlap: neighbours in offset order must not share bytes.
    std::vector<size_t> order(file_.tensors_.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return file_.tensors_[a].offset < file_.tensors_[b].offset;
    });
    for (size_t k = 1; k < order.size(); ++k) {
      const GgufTensorInfo& prev = file_.tensors_[order[k - 1]];
      const GgufTensorInfo& cur = file_.tensors_[order[k]];
      if (prev.offset + prev.n_bytes > cur.offset) {
        return corrupt("tensors '" + prev.name + "' (data bytes " + std::to_string(prev.offset) +
                       " to " + std::to_string(prev.offset + prev.n_bytes) + ") and '" + cur.name +
                       "' (from data byte " + std::to_string(cur.offset) + ") overlap");
      }
    }
    return Status();
  }

  GgufFile& file_;
  Cursor cursor_;
  uint64_t n_tensors_ = 0;
  uint64_t n_kv_ = 0;
  std::string context_;
  std::vector<uint64_t> index_path_;
};

Result<std::unique_ptr<GgufFile>> GgufFile::parse(std::span<const uint8_t> bytes,
                                                  std::string name) {
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->name_ = std::move(name);
  file->bytes_ = bytes;
  GgufParser parser(*file, bytes);
  RAGKIT_RETURN_IF_ERROR(parser.parse());
  return file;
}

Result<std::unique_ptr<GgufFile>> GgufFile::open(const std::string& path, MapMode mode) {
  RAGKIT_ASSIGN_OR_RETURN(MappedFile mapped, MappedFile::open(path, mode));
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->file_ = std::move(mapped);
  file->bytes_ = file->file_.bytes();
  file->name_ = path;
  GgufParser parser(*file, file->bytes_);
  RAGKIT_RETURN_IF_ERROR(parser.parse());
  return file;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = metadata_index_.find(std::string(key));
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

namespace {

std::string describe_type(const GgufValue& v) {
  if (v.type != GgufType::kArray) return gguf_type_name(v.type);
  return std::string("array of ") + gguf_type_name(v.array_type);
}

// An integer-typed value as int64 / uint64; false when it does not fit.
bool integer_as_int64(const GgufValue& v, int64_t& out) {
  if (is_signed_type(v.type)) {
    out = v.i;
    return true;
  }
  if (v.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
  out = static_cast<int64_t>(v.u);
  return true;
}

bool integer_as_uint64(const GgufValue& v, uint64_t& out) {
  if (!is_signed_type(v.type)) {
    out = v.u;
    return true;
  }
  if (v.i < 0) return false;
  out = static_cast<uint64_t>(v.i);
  return true;
}

double number_as_double(const GgufValue& v) {
  if (is_float_type(v.type)) return v.f;
  if (is_signed_type(v.type)) return static_cast<double>(v.i);
  return static_cast<double>(v.u);
}

std::string integer_text(const GgufValue& v) {
  return is_signed_type(v.type) ? std::to_string(v.i) : std::to_string(v.u);
}

}  // namespace

// Shared by the typed getters: finds `key` or says it is missing.
#define RAGKIT_GGUF_FIND(v, key)                                                             \
  const GgufValue* v = find(key);                                                            \
  if (v == nullptr) {                                                                        \
    return Status::not_found(name_ + ": metadata key '" + std::string(key) + "' not found"); \
  }

Result<std::string> GgufFile::get_string(std::string_view key) const {
  RAGKIT_GGUF_FIND(v, key);
  if (v->type != GgufType::kString) {
    return Status::invalid_argument(name_ + ": metadata key '" + std::string(key) + "' is " +
                                    describe_type(*v) + ", not string");
  }
  return v->str;
}

Result<uint64_t> GgufFile::get_uint(std::string_view key) const {
  RAGKIT_GGUF_FIND(v, key);
  if (!is_integer_type(v->type)) {
    return Status::invalid_argument(name_ + ": metadata key '" + std::string(key) + "' is " +
                                    describe_type(*v) + ", not an integer");
  }
  uint64_t out;
  if (!integer_as_uint64(*v, out)) {
    return Status::out_of_range(name_ + ": metadata key '" + std::string(key) + "' is " +
                                integer_text(*v) + ", expected a non-negative integer");
  }
  return out;
}

Result<int64_t> GgufFile::get_int(std::string_view key) const {
  RAGKIT_GGUF_FIND(v, key);
  if (!is_integer_type(v->type)) {
    return Status::invalid_argument(name_ + ": metadata key '" + std::string(key) + "' is " +
                                    describe_type(*v) + ", not an integer");
  }
  int64_t out;
  if (!integer_as_int64(*v, out)) {
    return Status::out_of_range(name_ + ": metadata key '" + std::string(key) + "' is " +
                                integer_text(*v) + ", which does not fit in int64");
  }
  return out;
}

Result<double> GgufFile::get_float(std::string_view key) const {
  RAGKIT_GGUF_FIND(v, key);
  if (!is_float_type(v->type) && !is_integer_type(v->type)) {
    return Status::invalid_argument(name_ + ": metadata key '" + std::string(key) + "' is " +
                                    describe_type(*v) + ", not a number");
  }
  return number_as_double(*v);
}

Result<bool> GgufFile::get_bool(std::string_view key) const {
  RAGKIT_GGUF_FIND(v, key);
  if (v->type != GgufType::kBool) {
    return Status::invalid_argument(name_ + ": metadata key '" + std::string(key) + "' is " +
                                    describe_type(*v) + ", not bool");
  }
  return v->u != 0;
}

Result<const std::vector<std::string>*> GgufFile::get_string_array(std::string_view key) const {
  RAGKIT_GGUF_FIND(v, key);
  if (v->type != GgufType::kArray || v->array_type != GgufType::kString) {
    return Status::invalid_argument(name_ + ": metadata key '" + std::string(key) + "' is " +
                                    describe_type(*v) + ", not an array of strings");
  }
  return &v->strings;
}

Result<std::vector<float>> GgufFile::get_float_array(std::string_view key) const {
  RAGKIT_GGUF_FIND(v, key);
  if (v->type != GgufType::kArray ||
      !(is_float_type(v->array_type) || is_integer_type(v->array_type))) {
    return Status::invalid_argument(name_ + ": metadata key '" + std::string(key) + "' is " +
                                    describe_type(*v) + ", not an array of numbers");
  }
  std::vector<float> out;
  out.reserve(v->array.size());
  for (const GgufValue& e : v->array) out.push_back(static_cast<float>(number_as_double(e)));
  return out;
}

Result<std::vector<int64_t>> GgufFile::get_int_array(std::string_view key) const {
  RAGKIT_GGUF_FIND(v, key);
  if (v->type != GgufType::kArray || !is_integer_type(v->array_type)) {
    return Status::invalid_argument(name_ + ": metadata key '" + std::string(key) + "' is " +
                                    describe_type(*v) + ", not an array of integers");
  }
  std::vector<int64_t> out;
  out.reserve(v->array.size());
  for (size_t j = 0; j < v->array.size(); ++j) {
    int64_t x;
    if (!integer_as_int64(v->array[j], x)) {
      return Status::out_of_range(name_ + ": metadata key '" + std::string(key) + "' element " +
                                  std::to_string(j) + " is " + integer_text(v->array[j]) +
                                  ", which does not fit in int64");
    }
    out.push_back(x);
  }
  return out;
}

#undef RAGKIT_GGUF_FIND

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

TensorView GgufFile::view(const GgufTensorInfo& info) const {
  TensorView v;
  v.name = info.name;
  v.dtype = info.dtype;
  v.n_dims = info.n_dims;
  v.ne = info.ne;
  v.data = bytes_.data() + data_offset_ + info.offset;
  v.n_bytes = info.n_bytes;
  return v;
}

}  // namespace ragkit::embed
