#include "ragkit/embed/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <tuple>

#include "json_util.h"

namespace ragkit::embed {

namespace {

using nlohmann::json;

constexpr const char* kMetadataKey = "__metadata__";
constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

// The safetensors dtype table, as far as ragkit can represent it. U8 and BOOL share I8's width
// so a view of them has the right byte count; nothing in ragkit reads them as numbers.
struct SafetensorsDType {
  const char* name;
  DType dtype;
  bool is_float_weight;
};
constexpr SafetensorsDType kDTypes[] = {
    {"F32", DType::kF32, true},  {"F16", DType::kF16, true},  {"BF16", DType::kBF16, true},
    {"F64", DType::kF64, false}, {"I64", DType::kI64, false}, {"I32", DType::kI32, false},
    {"I16", DType::kI16, false}, {"I8", DType::kI8, false},   {"U8", DType::kI8, false},
    {"BOOL", DType::kI8, false},
};
// Valid in safetensors, but without a ggml type of the same meaning: named in a clearer error.
constexpr const char* kKnownUnsupported[] = {"U16",     "U32", "U64",     "F8_E4M3", "F8_E5M2",
                                             "F8_E8M0", "F4",  "F6_E2M3", "F6_E3M2", "C64"};

const SafetensorsDType* find_dtype(std::string_view name) {
  for (const auto& d : kDTypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

const char* safetensors_dtype_name(DType dtype) {
  // The first entry wins, so I8 is written as "I8", never "U8" or "BOOL".
  for (const auto& d : kDTypes) {
    if (d.dtype == dtype) return d.name;
  }
  return nullptr;
}

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Bytes of a tensor of `shape` and `dtype`, or nullopt on overflow. Also checks that the product
// of the non-zero dims fits int64_t, so TensorView's signed ne products never overflow even for
// an empty tensor whose other dims are huge.
std::optional<size_t> tensor_bytes(const std::vector<int64_t>& shape, DType dtype) {
  uint64_t nonzero = 1;
  bool empty = false;
  for (int64_t d : shape) {
    if (d == 0) {
      empty = true;
      continue;
    }
    if (__builtin_mul_overflow(nonzero, static_cast<uint64_t>(d), &nonzero)) return std::nullopt;
    if (nonzero > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
  }
  if (empty) return 0;
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(nonzero, dtype_traits(dtype).type_size, &bytes)) return std::nullopt;
  if (bytes > std::numeric_limits<size_t>::max()) return std::nullopt;
  return static_cast<size_t>(bytes);
}

std::string in_quotes(std::string_view s) { return "'" + std::string(s) + "'"; }

}  // namespace

// Turns the JSON header into SafetensorsFile's tables. A friend so the fields stay private.
class SafetensorsParser {
 public:
  static Status run(SafetensorsFile& file) {
    const std::string& name = file.name_;
    std::span<const uint8_t> bytes = file.bytes_;
    if (bytes.size() < 8) {
      return Status::corruption(
          name + ": " + std::to_string(bytes.size()) +
          " bytes is too short for a safetensors file (8-byte header length)");
    }
    uint64_t header_len = read_u64_le(bytes.data());
    if (header_len > SafetensorsFile::kMaxHeaderBytes) {
      return Status::corruption(name + ": header length " + std::to_string(header_len) +
                                " exceeds the limit of " +
                                std::to_string(SafetensorsFile::kMaxHeaderBytes) + " bytes");
    }
    if (header_len > bytes.size() - 8) {
      return Status::corruption(name + ": header length " + std::to_string(header_len) +
                                " runs past the end of the file (" + std::to_string(bytes.size()) +
                                " bytes)");
    }
    file.data_offset_ = 8 + static_cast<size_t>(header_len);
    const size_t data_size = bytes.size() - file.data_offset_;

    std::string_view header_text(reinterpret_cast<const char*>(bytes.data() + 8),
                                 static_cast<size_t>(header_len));
    RAGKIT_ASSIGN_OR_RETURN(json header, parse_json(header_text, name + ": header"));
    if (!header.is_object()) {
      return Status::corruption(name + ": header is a JSON " + std::string(header.type_name()) +
                                ", expected an object");
    }
    try {
      for (auto it = header.begin(); it != header.end(); ++it) {
        if (it.key() == kMetadataKey) {
          RAGKIT_RETURN_IF_ERROR(parse_metadata(file, it.value()));
          continue;
        }
        RAGKIT_ASSIGN_OR_RETURN(SafetensorsTensorInfo info,
                                parse_tensor(name, it.key(), it.value(), data_size));
        file.tensors_.push_back(std::move(info));
      }
    } catch (const std::exception& e) {
      // Every access above is type-checked first; this is a backstop, not a code path.
      return Status::corruption(name + ": malformed header: " + e.what());
    }
    return check_overlaps(file);
  }

 private:
  static Status parse_metadata(SafetensorsFile& file, const json& value) {
    if (!value.is_object()) {
      return Status::corruption(file.name_ + ": \"__metadata__\" is a JSON " +
                                std::string(value.type_name()) + ", expected an object of strings");
    }
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (!it.value().is_string()) {
        return Status::corruption(file.name_ + ": \"__metadata__\" entry " + in_quotes(it.key()) +
                                  " is not a string");
      }
      file.metadata_[it.key()] = it.value().get<std::string>();
    }
    return Status();
  }

  static Result<SafetensorsTensorInfo> parse_tensor(const std::string& file_name,
                                                    const std::string& tensor_name,
                                                    const json& value, size_t data_size) {
    const std::string where = file_name + ": tensor " + in_quotes(tensor_name);
    if (!value.is_object()) return Status::corruption(where + ": entry is not a JSON object");
    SafetensorsTensorInfo info;
    info.name = tensor_name;

    auto dtype_it = value.find("dtype");
    if (dtype_it == value.end() || !dtype_it->is_string()) {
      return Status::corruption(where + ": missing or non-string \"dtype\"");
    }
    info.file_dtype = dtype_it->get<std::string>();
    const SafetensorsDType* dt = find_dtype(info.file_dtype);
    if (dt == nullptr) {
      for (const char* known : kKnownUnsupported) {
        if (info.file_dtype == known) {
          return Status::not_supported(where + ": dtype " + known + " is not supported");
        }
      }
      return Status::corruption(where + ": unknown dtype " + in_quotes(json_excerpt(*dtype_it)));
    }
    info.dtype = dt->dtype;
    info.is_float_weight = dt->is_float_weight;

    auto shape_it = value.find("shape");
    if (shape_it == value.end() || !shape_it->is_array()) {
      return Status::corruption(where + ": missing or non-array \"shape\"");
    }
    if (shape_it->size() > 4) {
      return Status::not_supported(where + ": shape " + json_excerpt(*shape_it) + " has " +
                                   std::to_string(shape_it->size()) +
                                   " dims; at most 4 are supported");
    }
    for (const json& d : *shape_it) {
      std::optional<uint64_t> n = json_to_count(d);
      if (!n || *n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Status::corruption(
            where + ": shape " + json_excerpt(*shape_it) +
            " has a dimension that is not a non-negative integer: " + json_excerpt(d));
      }
      info.shape.push_back(static_cast<int64_t>(*n));
    }

    auto offsets_it = value.find("data_offsets");
    if (offsets_it == value.end() || !offsets_it->is_array() || offsets_it->size() != 2) {
      return Status::corruption(where + ": missing \"data_offsets\" or not an array [begin, end]");
    }
    std::optional<uint64_t> begin = json_to_count((*offsets_it)[0]);
    std::optional<uint64_t> end = json_to_count((*offsets_it)[1]);
    if (!begin || !end) {
      return Status::corruption(where + ": data_offsets " + json_excerpt(*offsets_it) +
                                " are not non-negative integers");
    }
    if (*begin > *end || *end > data_size) {
      return Status::corruption(where + ": data_offsets [" + std::to_string(*begin) + ", " +
                                std::to_string(*end) + ") are not within the data section (" +
                                std::to_string(data_size) + " bytes)");
    }
    info.begin = static_cast<size_t>(*begin);
    info.end = static_cast<size_t>(*end);

    std::optional<size_t> expected = tensor_bytes(info.shape, info.dtype);
    if (!expected) {
      return Status::corruption(where + ": shape " + json_excerpt(*shape_it) + " of " +
                                info.file_dtype + " overflows the size computation");
    }
    if (*expected != info.end - info.begin) {
      return Status::corruption(where + ": shape " + json_excerpt(*shape_it) + " of " +
                                info.file_dtype + " needs " + std::to_string(*expected) +
                                " bytes but data_offsets span " +
                                std::to_string(info.end - info.begin));
    }
    return info;
  }

  // Sorts the tensors into data order and rejects any two that share a byte: a writer that
  // aliases tensors is either broken or hostile, and the model must never see one weight change
  // through another.
  static Status check_overlaps(SafetensorsFile& file) {
    auto& t = file.tensors_;
    std::sort(t.begin(), t.end(),
              [](const SafetensorsTensorInfo& a, const SafetensorsTensorInfo& b) {
                return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
              });
    const SafetensorsTensorInfo* prev = nullptr;  // the non-empty tensor reaching furthest
    for (const auto& info : t) {
      if (info.begin == info.end) continue;  // empty tensors occupy no bytes
      if (prev != nullptr && info.begin < prev->end) {
        return Status::corruption(
            file.name_ + ": tensors " + in_quotes(prev->name) + " [" + std::to_string(prev->begin) +
            ", " + std::to_string(prev->end) + ") and " + in_quotes(info.name) + " [" +
            std::to_string(info.begin) + ", " + std::to_string(info.end) + ") overlap");
      }
      prev = &info;
    }
    file.index_.reserve(t.size());
    for (size_t i = 0; i < t.size(); ++i) file.index_.emplace(t[i].name, i);
    return Status();
  }
};

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string& path,
                                                               MapMode mode) {
  RAGKIT_ASSIGN_OR_RETURN(MappedFile mapped, MappedFile::open(path, mode));
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->name_ = path;
  file->bytes_ = mapped.bytes();
  // The map's address does not change when MappedFile moves, so bytes_ stays valid.
  file->file_ = std::move(mapped);
  RAGKIT_RETURN_IF_ERROR(SafetensorsParser::run(*file));
  return file;
}

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::parse(std::span<const uint8_t> bytes,
                                                                std::string name) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->name_ = std::move(name);
  file->bytes_ = bytes;
  RAGKIT_RETURN_IF_ERROR(SafetensorsParser::run(*file));
  return file;
}

const SafetensorsTensorInfo* SafetensorsFile::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

TensorView SafetensorsFile::view(const SafetensorsTensorInfo& info) const {
  TensorView v;
  v.name = info.name;
  v.dtype = info.dtype;
  v.n_dims = std::max<int>(1, static_cast<int>(info.shape.size()));
  const size_t n = info.shape.size();
  for (size_t d = 0; d < n; ++d) v.ne[d] = info.shape[n - 1 - d];
  v.data = bytes_.data() + data_offset_ + info.begin;
  v.n_bytes = info.end - info.begin;
  return v;
}

// ---------------------------------------------------------------------------------------------
// SafetensorsModel

Result<std::unique_ptr<SafetensorsModel>> SafetensorsModel::open_dir(const std::string& dir,
                                                                    MapMode mode) {
  namespace fs = std::filesystem;
  std::unique_ptr<SafetensorsModel> model(new SafetensorsModel());
  model->dir_ = dir;
  const std::string single = (fs::path(dir) / kSingleFile).string();
  const std::string index_path = (fs::path(dir) / kIndexFile).string();
  std::error_code ec;

  if (fs::exists(single, ec)) {
    RAGKIT_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file,
                            SafetensorsFile::open(single, mode));
    for (size_t t = 0; t < file->tensors().size(); ++t) {
      model->index_.emplace(file->tensors()[t].name, std::make_pair(size_t{0}, t));
    }
    model->shards_.push_back(std::move(file));
    return model;
  }
  if (!fs::exists(index_path, ec)) {
    return Status::not_found(dir + ": no " + kSingleFile + " or " + kIndexFile);
  }

  RAGKIT_ASSIGN_OR_RETURN(json index, read_json_file(index_path));
  if (!index.is_object()) return Status::corruption(index_path + ": not a JSON object");
  auto map_it = index.find("weight_map");
  if (map_it == index.end() || !map_it->is_object()) {
    return Status::corruption(index_path + ": missing \"weight_map\" object");
  }
  if (map_it->empty()) return Status::corruption(index_path + ": \"weight_map\" lists no tensors");

  std::map<std::string, size_t> shard_of_file;  // shard file name -> index into shards_
  for (auto it = map_it->begin(); it != map_it->end(); ++it) {
    const std::string& tensor = it.key();
    if (!it.value().is_string()) {
      return Status::corruption(index_path + ": shard of tensor " + in_quotes(tensor) +
                                " is not a string");
    }
    const std::string shard = it.value().get<std::string>();
    // Shards are plain file names beside the index: anything else could reach outside the model.
    if (shard.empty() || shard.find('/') != std::string::npos ||
        shard.find('\\') != std::string::npos || shard.find("..") != std::string::npos) {
      return Status::corruption(index_path + ": shard name " + in_quotes(shard) + " of tensor " +
                                in_quotes(tensor) + " is not a plain file name");
    }
    auto [pos, inserted] = shard_of_file.emplace(shard, model->shards_.size());
    if (inserted) {
      RAGKIT_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file,
                              SafetensorsFile::open((fs::path(dir) / shard).string(), mode));
      model->shards_.push_back(std::move(file));
    }
    const size_t s = pos->second;
    const SafetensorsFile& file = *model->shards_[s];
    const SafetensorsTensorInfo* info = file.find(tensor);
    if (info == nullptr) {
      return Status::corruption(index_path + ": tensor " + in_quotes(tensor) +
                                " is listed in shard " + in_quotes(shard) + " but " + file.name() +
                                " does not contain it");
    }
    model->index_[tensor] = {s, static_cast<size_t>(info - file.tensors().data())};
  }
  // Tensors a shard holds but the index forgot are still reachable; the index wins on conflicts.
  for (size_t s = 0; s < model->shards_.size(); ++s) {
    const auto& tensors = model->shards_[s]->tensors();
    for (size_t t = 0; t < tensors.size(); ++t)
      model->index_.emplace(tensors[t].name, std::make_pair(s, t));
  }
  return model;
}

std::vector<std::string> SafetensorsModel::tensor_names() const {
  std::vector<std::string> names;
  names.reserve(index_.size());
  for (const auto& [name, where] : index_) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

Result<TensorView> SafetensorsModel::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  if (it == index_.end()) {
    return Status::not_found(dir_ + ": no tensor " + in_quotes(name) + " in the safetensors files");
  }
  const SafetensorsFile& file = *shards_[it->second.first];
  return file.view(file.tensors()[it->second.second]);
}

bool SafetensorsModel::contains(std::string_view name) const {
  return index_.count(std::string(name)) != 0;
}

// ---------------------------------------------------------------------------------------------
// Writer

namespace {

Status write_all(int fd, const void* data, size_t size, const std::string& path) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::io_error(path + ": write failed: " + std::strerror(errno));
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return Status();
}

Status write_file_atomically(const std::string& path, const std::string& header,
                             const std::vector<SafetensorsWriteTensor>& tensors) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::io_error(tmp + ": cannot create: " + std::strerror(errno));
  auto fail = [&](Status s) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return s;
  };
  uint8_t len[8];
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
  if (Status s = write_all(fd, len, 8, tmp); !s.ok()) return fail(s);
  if (Status s = write_all(fd, header.data(), header.size(), tmp); !s.ok()) return fail(s);
  for (const auto& t : tensors) {
    if (Status s = write_all(fd, t.data.data(), t.data.size(), tmp); !s.ok()) return fail(s);
  }
  // fsync before rename: otherwise a crash can leave the new name pointing at missing data.
  if (::fsync(fd) != 0)
    return fail(Status::io_error(tmp + ": fsync failed: " + std::strerror(errno)));
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return Status::io_error(tmp + ": close failed: " + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Status::io_error(path + ": cannot rename " + tmp + " into place: " + std::strerror(err));
  }
  return Status();
}

}  // namespace

Status write_safetensors(const std::string& path,
                         const std::vector<SafetensorsWriteTensor>& tensors,
                         const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) {
    json meta = json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header[kMetadataKey] = std::move(meta);
  }
  size_t offset = 0;
  for (const auto& t : tensors) {
    const std::string where = path + ": tensor " + in_quotes(t.name);
    if (t.name == kMetadataKey) return Status::invalid_argument(where + ": reserved name");
    if (header.contains(t.name)) return Status::invalid_argument(where + ": name repeats");
    const char* dtype = safetensors_dtype_name(t.dtype);
    if (dtype == nullptr) {
      return Status::invalid_argument(where + ": dtype " + dtype_name(t.dtype) +
                                      " cannot be written to safetensors");
    }
    if (t.shape.size() > 4) {
      return Status::invalid_argument(where + ": more than 4 dims cannot be read back");
    }
    for (int64_t d : t.shape) {
      if (d < 0)
        return Status::invalid_argument(where + ": negative dimension " + std::to_string(d));
    }
    std::optional<size_t> bytes = tensor_bytes(t.shape, t.dtype);
    if (!bytes || *bytes != t.data.size()) {
      return Status::invalid_argument(where + ": " + std::to_string(t.data.size()) +
                                      " bytes of data do not match its shape and dtype");
    }
    header[t.name] = {
        {"dtype", dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + *bytes}}};
    offset += *bytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const std::exception& e) {  // a name or metadata value that is not UTF-8
    return Status::invalid_argument(path + ": cannot encode the header: " + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  return write_file_atomically(path, text, tensors);
}

}  // namespace ragkit::embed
