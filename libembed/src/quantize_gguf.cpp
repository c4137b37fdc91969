// quantize_gguf: a whole GGUF model to a quantized GGUF, choosing each tensor's type like
// llama.cpp's llama-quantize (llama_model_quantize_impl / llama_tensor_get_type); see quantize.h.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ragkit/embed/gguf.h"
#include "ragkit/embed/gguf_writer.h"
#include "ragkit/embed/quantize.h"

namespace ragkit::embed {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
bool contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

bool is_block_quantized(DType type) { return dtype_traits(type).block_size > 1; }

// llama-quantize's test for "a weight matrix worth quantizing"; the rest is copied as it is.
// Returns "" when the tensor is to be quantized, else why not.
std::string why_not_quantized(const GgufTensorInfo& t) {
  if (!ends_with(t.name, "weight")) return "kept: not a weight";
  if (t.n_dims < 2) return "kept: 1-D";
  if (contains(t.name, "_norm.weight")) return "kept: norm";
  if (contains(t.name, "ffn_gate_inp.weight")) return "kept: expert gate";
  if (t.name == "position_embd.weight") return "kept: position embeddings";
  if (t.name == "token_types.weight") return "kept: token types";
  if (contains(t.name, "ssm_conv1d.weight")) return "kept: ssm_conv1d";
  if (contains(t.name, "time_mix_first.weight")) return "kept: time_mix_first";
  if (contains(t.name, "attn_rel_b.weight")) return "kept: relative position bias";
  return "";
}

// The N of "blk.N.", or -1.
int layer_of(std::string_view name) {
  if (name.substr(0, 4) != "blk.") return -1;
  int layer = 0;
  size_t i = 4;
  if (i >= name.size() || name[i] < '0' || name[i] > '9') return -1;
  for (; i < name.size() && name[i] >= '0' && name[i] <= '9'; ++i)
    layer = layer * 10 + (name[i] - '0');
  return i < name.size() && name[i] == '.' ? layer : -1;
}

// llama.cpp's use_more_bits: the first and last eighth of the layers and every third between.
bool use_more_bits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

// What the model holds that llama_tensor_get_type looks at.
struct ModelShape {
  bool has_output = false;
  int n_layer = 0;                 // {arch}.block_count, else the number of ffn_down weights
  std::vector<int> attn_v_layers;  // layers with an attn_v weight, ascending
};

ModelShape model_shape(const GgufFile& file) {
  ModelShape s;
  int n_ffn_down = 0;
  for (const GgufTensorInfo& t : file.tensors()) {
    if (t.name == "output.weight") s.has_output = true;
    if (contains(t.name, "attn_v.weight") || contains(t.name, "attn_qkv.weight") ||
        contains(t.name, "attn_kv_b.weight")) {
      s.attn_v_layers.push_back(layer_of(t.name));
    }
    if (contains(t.name, "ffn_down") && why_not_quantized(t).empty()) ++n_ffn_down;
  }
  std::sort(s.attn_v_layers.begin(), s.attn_v_layers.end());
  s.n_layer = n_ffn_down;
  if (Result<std::string> arch = file.get_string("general.architecture"); arch.ok()) {
    if (Result<uint64_t> n = file.get_uint(*arch + ".block_count"); n.ok()) {
      s.n_layer = static_cast<int>(*n);
    }
  }
  return s;
}

struct Choice {
  DType type;
  std::string note;
};

// llama_tensor_get_type for the targets ragkit writes, then the per-tensor fallback when the rows
// do not fit the chosen block.
Choice choose_type(const GgufTensorInfo& t, DType target, const ModelShape& shape) {
  Choice c{target, ""};
  const int64_t cols = t.ne[0];
  if (is_block_quantized(target)) {
    if (t.name == "output.weight" || (!shape.has_output && t.name == "token_embd.weight")) {
      if (cols % 256 != 0) {
        c = {DType::kQ8_0, "output matrix: rows not a multiple of 256"};
      } else if (target != DType::kQ8_0) {
        c = {DType::kQ6_K, "output matrix"};
      }
    } else if (contains(t.name, "attn_v.weight") && target == DType::kQ4_K) {
      const auto& layers = shape.attn_v_layers;
      const int i = static_cast<int>(
          std::lower_bound(layers.begin(), layers.end(), layer_of(t.name)) - layers.begin());
      if (use_more_bits(i, static_cast<int>(layers.size()))) {
        c = {DType::kQ6_K, "Q4_K_M: more bits for this layer's attn_v"};
      }
    } else if (contains(t.name, "ffn_down") && target == DType::kQ4_K) {
      if (use_more_bits(layer_of(t.name), shape.n_layer)) {
        c = {DType::kQ6_K, "Q4_K_M: more bits for this layer's ffn_down"};
      }
    }
  }
  const int64_t block = dtype_traits(c.type).block_size;
  if (cols % block != 0) {
    // "172 values per row: not a multiple of 256 (Q4_K) nor of 32 (Q5_0)"
    std::string why = std::to_string(cols) + " values per row: not a multiple of " +
                      std::to_string(block) + " (" + dtype_name(c.type) + ")";
    DType fallback = DType::kF16;
    if (c.type == DType::kQ4_K) fallback = DType::kQ5_0;
    if (c.type == DType::kQ6_K) fallback = DType::kQ8_0;
    const int64_t fallback_block = dtype_traits(fallback).block_size;
    if (cols % fallback_block != 0) {
      why += " nor of " + std::to_string(fallback_block) + " (" + dtype_name(fallback) + ")";
      fallback = DType::kF16;
    }
    c = {fallback, c.note.empty() ? why : c.note + "; " + why};
  }
  return c;
}

// One tensor's rows to `to`, in parallel over row blocks.
Status convert_tensor(ThreadPool& pool, const TensorView& src, DType to,
                      std::vector<uint8_t>& out) {
  const int64_t cols = src.row_length();
  const int64_t rows = src.n_rows();
  RAGKIT_ASSIGN_OR_RETURN(const size_t out_row, row_bytes(to, cols));
  out.assign(out_row * static_cast<size_t>(rows), 0);
  std::vector<float> buffers(static_cast<size_t>(pool.size()) * static_cast<size_t>(cols));
  constexpr int64_t kRowsPerTask = 16;
  const int64_t tasks = (rows + kRowsPerTask - 1) / kRowsPerTask;
  std::vector<Status> failures(static_cast<size_t>(pool.size()));
  pool.parallel_for(static_cast<size_t>(tasks), [&](size_t task, int thread) {
    float* row = buffers.data() + static_cast<size_t>(thread) * static_cast<size_t>(cols);
    const int64_t r0 = static_cast<int64_t>(task) * kRowsPerTask;
    const int64_t r1 = std::min(rows, r0 + kRowsPerTask);
    for (int64_t r = r0; r < r1 && failures[thread].ok(); ++r) {
      Status s = dequantize_row(src.dtype, src.row(r), row, cols);
      if (s.ok()) s = quantize_row(to, row, out.data() + static_cast<size_t>(r) * out_row, cols);
      if (!s.ok()) failures[thread] = s;
    }
  });
  for (const Status& s : failures) {
    if (!s.ok()) return s.with_context(std::string(src.name));
  }
  return Status();
}

}  // namespace

Result<uint32_t> gguf_file_type(DType target) {
  switch (target) {
    case DType::kF32:
      return 0u;
    case DType::kF16:
      return 1u;
    case DType::kQ4_0:
      return 2u;
    case DType::kQ8_0:
      return 7u;
    case DType::kQ5_0:
      return 8u;
    case DType::kQ4_K:
      return 15u;  // LLAMA_FTYPE_MOSTLY_Q4_K_M
    case DType::kQ6_K:
      return 18u;
    case DType::kBF16:
      return 32u;
    default:
      return Status::not_supported(std::string("quantizing a model to ") + dtype_name(target) +
                                   " is not supported (supported: F16, BF16, Q8_0, Q4_0, Q5_0, "
                                   "Q4_K, Q6_K)");
  }
}

Result<QuantizeReport> quantize_gguf(const std::string& in, const std::string& out, DType target,
                                     const QuantizeOptions& options) {
  RAGKIT_ASSIGN_OR_RETURN(const uint32_t file_type, gguf_file_type(target));
  if (target == DType::kF32) {
    return Status::not_supported("quantizing a model to F32 is not supported");
  }
  RAGKIT_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> file, GgufFile::open(in));
  ThreadPool& pool = options.pool != nullptr ? *options.pool : ThreadPool::default_pool();
  const ModelShape shape = model_shape(*file);

  QuantizeReport report;
  report.target = target;
  report.file_type = file_type;
  GgufWriter writer(file->alignment());
  writer.copy_metadata(*file);
  writer.set_uint32("general.file_type", file_type);
  writer.set_uint32("general.quantization_version", 2);

  std::vector<uint8_t> data;
  for (const GgufTensorInfo& t : file->tensors()) {
    const TensorView view = file->view(t);
    QuantizedTensor q;
    q.name = t.name;
    q.n_dims = t.n_dims;
    q.ne = t.ne;
    q.from = t.dtype;
    q.bytes_in = t.n_bytes;
    q.note = why_not_quantized(t);
    q.to = t.dtype;
    if (q.note.empty()) {
      const Choice choice = choose_type(t, target, shape);
      q.to = choice.type;
      q.note = choice.note;
    }
    if (q.to == t.dtype) {
      RAGKIT_RETURN_IF_ERROR(
          writer.add_tensor(t.name, t.dtype, t.n_dims, t.ne,
                            file->bytes().subspan(file->data_offset() + t.offset, t.n_bytes)));
    } else {
      if (is_block_quantized(t.dtype) && !options.allow_requantize) {
        return Status::invalid_argument(
            in + ": tensor '" + t.name + "' is already " + dtype_name(t.dtype) +
            "; quantizing it again to " + dtype_name(q.to) +
            " loses precision twice (allow it with --allow-requantize, or start from an F32/F16 "
            "model)");
      }
      if (!can_dequantize(t.dtype)) {
        return Status::not_supported(in + ": tensor '" + t.name + "' has type " +
                                     dtype_name(t.dtype) + ", which ragkit cannot read");
      }
      RAGKIT_RETURN_IF_ERROR(convert_tensor(pool, view, q.to, data));
      RAGKIT_RETURN_IF_ERROR(writer.add_tensor(t.name, q.to, t.n_dims, t.ne, data));
    }
    q.bytes_out = *row_bytes(q.to, t.ne[0]) * static_cast<size_t>(view.n_rows());
    report.bytes_in += q.bytes_in;
    report.bytes_out += q.bytes_out;
    report.tensors.push_back(std::move(q));
  }
  file.reset();  // unmap before writing: `out` may be `in`
  Status written = writer.write(out);
  if (!written.ok()) {
    std::remove((out + ".tmp").c_str());  // GgufWriter's temporary file, if it got that far
    return written;
  }
  return report;
}

}  // namespace ragkit::embed
