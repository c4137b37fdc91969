#include "quantize_command.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ragkit/embed/quantize.h"

namespace ragkit::cli {

namespace {

using OrderedJson = nlohmann::ordered_json;

struct QuantizeArgs {
  std::string input;
  std::string output;
  std::string type;
  bool allow_requantize = false;
  bool json = false;
};

// "Q4_K_M" is what llama.cpp users type for what ragkit calls Q4_K.
Result<embed::DType> parse_target(const std::string& name) {
  std::string upper;
  for (char c : name)
    upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  if (upper == "Q4_K_M") upper = "Q4_K";
  Result<embed::DType> type = embed::dtype_from_name(upper);
  if (!type.ok() || !embed::gguf_file_type(*type).ok() || *type == embed::DType::kF32) {
    return Status::invalid_argument("cannot quantize to '" + name +
                                    "'; the types are Q8_0, Q4_0, Q5_0, Q4_K (= Q4_K_M), Q6_K, "
                                    "F16 and BF16");
  }
  return *type;
}

std::string shape_text(const embed::QuantizedTensor& t) {
  std::string s = "[";
  for (int d = 0; d < std::max(1, t.n_dims); ++d) {
    if (d > 0) s += ", ";
    s += std::to_string(t.ne[d]);
  }
  return s + "]";
}

std::string megabytes(size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

std::string plain_report(const QuantizeArgs& args, const embed::QuantizeReport& r) {
  std::string out;
  size_t name_width = 0;
  for (const auto& t : r.tensors) name_width = std::max(name_width, t.name.size());
  char line[512];
  for (const auto& t : r.tensors) {
    std::snprintf(line, sizeof(line), "%-*s  %-14s %5s -> %-5s %10zu -> %10zu bytes",
                  static_cast<int>(name_width), t.name.c_str(), shape_text(t).c_str(),
                  embed::dtype_name(t.from), embed::dtype_name(t.to), t.bytes_in, t.bytes_out);
    out += line;
    if (!t.note.empty()) out += "  (" + t.note + ")";
    out += '\n';
  }
  out += "quantized " + args.input + " -> " + args.output + ": " + embed::dtype_name(r.target) +
         " (general.file_type " + std::to_string(r.file_type) + "), " +
         std::to_string(r.tensors.size()) + " tensors, " + megabytes(r.bytes_in) + " -> " +
         megabytes(r.bytes_out) + " of tensor data\n";
  return out;
}

std::string json_report(const QuantizeArgs& args, const embed::QuantizeReport& r) {
  OrderedJson tensors = OrderedJson::array();
  for (const auto& t : r.tensors) {
    OrderedJson shape = OrderedJson::array();
    for (int d = 0; d < std::max(1, t.n_dims); ++d) shape.push_back(t.ne[d]);
    OrderedJson j = OrderedJson::object();
    j["name"] = t.name;
    j["shape"] = std::move(shape);
    j["from"] = embed::dtype_name(t.from);
    j["to"] = embed::dtype_name(t.to);
    j["bytes_in"] = t.bytes_in;
    j["bytes_out"] = t.bytes_out;
    j["note"] = t.note;
    tensors.push_back(std::move(j));
  }
  OrderedJson doc = OrderedJson::object();
  doc["input"] = args.input;
  doc["output"] = args.output;
  doc["type"] = embed::dtype_name(r.target);
  doc["file_type"] = r.file_type;
  doc["bytes_in"] = r.bytes_in;
  doc["bytes_out"] = r.bytes_out;
  doc["tensors"] = std::move(tensors);
  return doc.dump(-1, ' ', false, OrderedJson::error_handler_t::replace) + "\n";
}

int run_quantize(const QuantizeArgs& args) {
  Result<embed::DType> target = parse_target(args.type);
  if (!target.ok()) return report_error(target.status());
  embed::QuantizeOptions options;
  options.allow_requantize = args.allow_requantize;
  Result<embed::QuantizeReport> report =
      embed::quantize_gguf(args.input, args.output, *target, options);
  if (!report.ok()) return report_error(report.status());
  const std::string out = args.json ? json_report(args, *report) : plain_report(args, *report);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return finish_output();
}

}  // namespace

Command add_quantize_command(CLI::App& app) {
  auto args = std::make_shared<QuantizeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "quantize",
      "Write a copy of a GGUF model with quantized weight matrices (like llama-quantize)");
  cmd->add_option("input", args->input, "The GGUF model to read")
      ->required()
      ->option_text("IN.gguf");
  cmd->add_option("output", args->output,
                  "Where to write the quantized model (replaced if it exists)")
      ->required()
      ->option_text("OUT.gguf");
  cmd->add_option("type", args->type,
                  "Q8_0, Q4_0, Q5_0, Q4_K (llama.cpp's Q4_K_M mixture), Q6_K, F16 or BF16")
      ->required()
      ->option_text("TYPE");
  cmd->add_flag("--allow-requantize", args->allow_requantize,
                "Quantize tensors that are already quantized again (errors add up)");
  cmd->add_flag("--json", args->json, "Print the per-tensor report as JSON");
  cmd->footer(
      "Matrices whose rows do not fit the type's blocks fall back per tensor, as llama.cpp's do\n"
      "(Q4_K -> Q5_0, Q6_K -> Q8_0, then F16); norms, biases and position embeddings stay as they\n"
      "are. Examples:\n"
      "  rag quantize model-f32.gguf model-q8_0.gguf Q8_0\n"
      "  rag quantize --json model-f16.gguf model-q4_k.gguf Q4_K");
  return {cmd, [args] { return run_quantize(*args); }};
}

}  // namespace ragkit::cli
