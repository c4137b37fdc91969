// libFuzzer target for the GGUF reader. Any bytes must give a GgufFile or an error Status that
// names the file; never a crash, an out-of-bounds read (ASan) or undefined behaviour (UBSan).
// When the parse succeeds, every metadata value and every byte of every tensor are read, so the
// sanitizers check the bounds the parser promised.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ragkit/embed/gguf.h"

namespace {

using ragkit::embed::GgufFile;
using ragkit::embed::GgufType;
using ragkit::embed::GgufValue;

uint64_t touch(const GgufValue& v) {
  uint64_t h = static_cast<uint64_t>(v.type) + v.u + static_cast<uint64_t>(v.i) +
               static_cast<uint64_t>(v.f == v.f) + v.str.size();
  for (char c : v.str) h = h * 31 + static_cast<unsigned char>(c);
  if (v.type == GgufType::kArray) {
    h += v.array_size();
    for (const std::string& s : v.strings) {
      for (char c : s) h = h * 31 + static_cast<unsigned char>(c);
    }
    for (const GgufValue& e : v.array) h += touch(e);
  }
  return h;
}

// The typed getters must answer every key without crashing, whatever its type.
uint64_t exercise_getters(const GgufFile& f, const std::string& key) {
  uint64_t h = 0;
  if (auto r = f.get_string(key); r.ok()) h += r->size();
  if (auto r = f.get_uint(key); r.ok()) h += *r;
  if (auto r = f.get_int(key); r.ok()) h += static_cast<uint64_t>(*r);
  if (auto r = f.get_float(key); r.ok()) h += *r > 0;
  if (auto r = f.get_bool(key); r.ok()) h += *r;
  if (auto r = f.get_string_array(key); r.ok()) h += (*r)->size();
  if (auto r = f.get_float_array(key); r.ok()) h += r->size();
  if (auto r = f.get_int_array(key); r.ok()) h += r->size();
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = GgufFile::parse({data, size}, "fuzz.gguf");
  if (!parsed.ok()) {
    if (parsed.status().message().rfind("fuzz.gguf: ", 0) != 0) __builtin_trap();
    return 0;
  }
  const GgufFile& f = **parsed;
  uint64_t h = f.version() + f.alignment();
  for (const auto& [key, value] : f.metadata()) {
    h += key.size() + touch(value);
    if (f.find(key) != &value) __builtin_trap();
    h += exercise_getters(f, key);
  }
  std::vector<float> row;
  for (const auto& info : f.tensors()) {
    const ragkit::embed::TensorView v = f.view(info);
    const auto* begin = static_cast<const uint8_t*>(v.data);
    if (begin < data || v.n_bytes > size || begin + v.n_bytes > data + size) __builtin_trap();
    for (size_t k = 0; k < v.n_bytes; ++k) h += begin[k];
    // The views must also be safe to dequantize row by row.
    if (ragkit::embed::can_dequantize(v.dtype)) {
      row.resize(static_cast<size_t>(v.row_length()));
      for (int64_t r = 0; r < v.n_rows(); ++r) {
        if (!ragkit::embed::dequantize_row(v.dtype, v.row(r), row.data(), v.row_length()).ok()) {
          __builtin_trap();
        }
        h += static_cast<uint64_t>(row.empty() ? 0 : row[0] == row[0]);
      }
    }
  }
  volatile uint64_t sink = h;
  (void)sink;
  return 0;
}
