// libFuzzer target for SafetensorsFile::parse: any bytes must give either a Status or a file
// whose every tensor view lies inside the input. Reading every byte of every view lets
// AddressSanitizer catch a view that points out of bounds.
#include <cstddef>
#include <cstdint>
#include <span>

#include "ragkit/embed/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ragkit::embed::SafetensorsFile;
  auto file = SafetensorsFile::parse(std::span<const uint8_t>(data, size), "fuzz.safetensors");
  if (!file.ok()) {
    if (file.status().message().empty()) __builtin_trap();  // every error must say something
    return 0;
  }
  volatile uint8_t sink = 0;
  for (const auto& info : (*file)->tensors()) {
    ragkit::embed::TensorView v = (*file)->view(info);
    const uint8_t* p = static_cast<const uint8_t*>(v.data);
    for (size_t i = 0; i < v.n_bytes; ++i) sink = sink ^ p[i];
    // The shape arithmetic the model loader relies on must not overflow (UBSan checks it).
    sink = sink ^ static_cast<uint8_t>(v.n_elements() + v.n_rows() + v.row_length());
    if ((*file)->find(info.name) != &info) __builtin_trap();
  }
  (void)sink;
  return 0;
}
