#include "ragkit/embed/gguf_writer.h"

#include <cstdio>
#include <cstring>
#include <fstream>

namespace ragkit::embed {

namespace {

class ByteSink {
 public:
  void bytes(const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  template <typename T>
  void pod(T v) {
    bytes(&v, sizeof(T));
  }
  void str(const std::string& s) {
    pod<uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
  void pad_to(uint64_t alignment) {
    while (out_.size() % alignment != 0) out_.push_back(0);
  }
  std::vector<uint8_t>& data() { return out_; }

 private:
  std::vector<uint8_t> out_;
};

void write_scalar(ByteSink& s, GgufType type, const GgufValue& v) {
  switch (type) {
    case GgufType::kUint8: s.pod<uint8_t>(static_cast<uint8_t>(v.u)); break;
    case GgufType::kInt8: s.pod<int8_t>(static_cast<int8_t>(v.i)); break;
    case GgufType::kUint16: s.pod<uint16_t>(static_cast<uint16_t>(v.u)); break;
    case GgufType::kInt16: s.pod<int16_t>(static_cast<int16_t>(v.i)); break;
    case GgufType::kUint32: s.pod<uint32_t>(static_cast<uint32_t>(v.u)); break;
    case GgufType::kInt32: s.pod<int32_t>(static_cast<int32_t>(v.i)); break;
    case GgufType::kFloat32: s.pod<float>(static_cast<float>(v.f)); break;
    case GgufType::kBool: s.pod<uint8_t>(v.u ? 1 : 0); break;
    case GgufType::kString: s.str(v.str); break;
    case GgufType::kUint64: s.pod<uint64_t>(v.u); break;
    case GgufType::kInt64: s.pod<int64_t>(v.i); break;
    case GgufType::kFloat64: s.pod<double>(v.f); break;
    case GgufType::kArray: break;  // handled by write_value
  }
}

void write_value(ByteSink& s, const GgufValue& v) {
  if (v.type != GgufType::kArray) {
    write_scalar(s, v.type, v);
    return;
  }
  s.pod<uint32_t>(static_cast<uint32_t>(v.array_type));
  if (v.array_type == GgufType::kString) {
    s.pod<uint64_t>(v.strings.size());
    for (const auto& str : v.strings) s.str(str);
    return;
  }
  s.pod<uint64_t>(v.array.size());
  for (const auto& e : v.array) {
    if (v.array_type == GgufType::kArray) {
      write_value(s, e);
    } else {
      write_scalar(s, v.array_type, e);
    }
  }
}

}  // namespace

GgufWriter::GgufWriter(uint64_t alignment) : alignment_(alignment) {}

void GgufWriter::set(const std::string& key, GgufValue value) {
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(key, std::move(value));
}

void GgufWriter::set_string(const std::string& key, std::string value) {
  GgufValue v;
  v.type = GgufType::kString;
  v.str = std::move(value);
  set(key, std::move(v));
}

void GgufWriter::set_uint32(const std::string& key, uint32_t value) {
  GgufValue v;
  v.type = GgufType::kUint32;
  v.u = value;
  set(key, std::move(v));
}

void GgufWriter::copy_metadata(const GgufFile& file) {
  for (const auto& [k, v] : file.metadata()) {
    if (k != "general.alignment") set(k, v);
  }
}

Status GgufWriter::add_tensor(const std::string& name, DType dtype, int n_dims, std::array<int64_t, 4> ne,
                              std::span<const uint8_t> data) {
  if (n_dims < 1 || n_dims > 4) return Status::invalid_argument(name + ": n_dims must be 1..4");
  RAGKIT_ASSIGN_OR_RETURN(size_t row, row_bytes(dtype, ne[0]));
  const size_t expect = row * static_cast<size_t>(ne[1] * ne[2] * ne[3]);
  if (data.size() != expect) {
    return Status::invalid_argument(name + ": " + std::to_string(data.size()) + " bytes given, " +
                                    std::to_string(expect) + " expected");
  }
  tensors_.push_back({name, dtype, n_dims, ne, std::vector<uint8_t>(data.begin(), data.end())});
  return Status();
}

Status GgufWriter::write(const std::string& path) const {
  ByteSink s;
  s.pod<uint32_t>(0x46554747u);  // "GGUF"
  s.pod<uint32_t>(3);
  s.pod<uint64_t>(tensors_.size());
  const bool custom_alignment = alignment_ != 32;
  s.pod<uint64_t>(metadata_.size() + (custom_alignment ? 1 : 0));
  for (const auto& [k, v] : metadata_) {
    s.str(k);
    s.pod<uint32_t>(static_cast<uint32_t>(v.type));
    write_value(s, v);
  }
  if (custom_alignment) {
    s.str("general.alignment");
    s.pod<uint32_t>(static_cast<uint32_t>(GgufType::kUint32));
    s.pod<uint32_t>(static_cast<uint32_t>(alignment_));
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    s.str(t.name);
    s.pod<uint32_t>(static_cast<uint32_t>(t.n_dims));
    for (int d = 0; d < t.n_dims; ++d) s.pod<uint64_t>(static_cast<uint64_t>(t.ne[d]));
    s.pod<uint32_t>(static_cast<uint32_t>(t.dtype));
    s.pod<uint64_t>(offset);
    offset += t.data.size();
    offset = (offset + alignment_ - 1) / alignment_ * alignment_;
  }
  s.pad_to(alignment_);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::io_error(tmp + ": cannot open for writing");
    out.write(reinterpret_cast<const char*>(s.data().data()), static_cast<std::streamsize>(s.data().size()));
    static const char zeros[256] = {};
    for (const auto& t : tensors_) {
      out.write(reinterpret_cast<const char*>(t.data.data()), static_cast<std::streamsize>(t.data.size()));
      size_t pad = (alignment_ - t.data.size() % alignment_) % alignment_;
      while (pad > 0) {
        size_t chunk = std::min(pad, sizeof(zeros));
        out.write(zeros, static_cast<std::streamsize>(chunk));
        pad -= chunk;
      }
    }
    out.flush();
    if (!out) return Status::io_error(tmp + ": write failed (disk full?)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return Status::io_error(path + ": cannot rename the temporary file into place");
  }
  return Status();
}

}  // namespace ragkit::embed
