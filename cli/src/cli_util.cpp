#include "cli_util.h"

#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <iterator>

#include "collection_util.h"
#include "ragkit/common/thread_pool.h"

namespace ragkit::cli {

namespace fs = std::filesystem;

int report_error(const Status& status) { return report_error(status.message()); }

int report_error(std::string_view message) {
  std::fflush(stdout);  // keep any partial output ahead of the error when both go to a terminal
  std::fprintf(stderr, "rag: error: %.*s\n", static_cast<int>(message.size()), message.data());
  return 1;
}

void report_warning(std::string_view message) {
  std::fprintf(stderr, "rag: warning: %.*s\n", static_cast<int>(message.size()), message.data());
}

void report_note(std::string_view message) {
  std::fprintf(stderr, "rag: note: %.*s\n", static_cast<int>(message.size()), message.data());
}

void add_model_option(CLI::App& command, std::string& model, const std::string& description) {
  command.add_option("-m,--model", model, description)->required()->option_text("PATH");
}

void add_load_options(CLI::App& command, embed::ModelLoadOptions& options) {
  command.add_flag("--no-mmap", options.in_memory,
                   "Read the weights into memory (2 MB pages) instead of mapping the file: "
                   "faster decoding, the model's size in process memory");
  // A callback rather than "--no-repack{false}": help would print CLI11's notation.
  command.add_flag_callback(
      "--no-repack", [&options] { options.repack = false; },
      "Keep Q8_0/Q4_0/Q5_0/Q4_K matrices as the file lays them out instead of packing their rows "
      "for the AVX-512 VNNI kernels at load (packed: faster decoding, those matrices' size in "
      "process memory)");
}

void add_cache_type_option(CLI::App& command, embed::KvType& type) {
  command
      .add_option_function<std::string>(
          "--cache-type", [&type](const std::string& name) { type = *embed::parse_kv_type(name); },
          "KV cache element type: f16 (default, as llama.cpp's) or f32 (every bit)")
      ->check(CLI::IsMember({"f16", "f32"}, CLI::ignore_case))
      ->option_text("f16|f32");
}

void add_threads_option(CLI::App& app, int& threads) {
  app.add_option("--threads", threads, "Compute threads (default: all cores)")
      ->check(CLI::Range(1, 4096))
      ->option_text("N");
}

Status apply_threads(int threads) {
  if (threads <= 0) return Status::ok_status();  // 0: the pool's own default, all cores
  if (!ThreadPool::set_default_threads(threads)) {
    return Status::internal("--threads was applied after the compute pool had started");
  }
  return Status::ok_status();
}

Result<std::vector<std::string>> read_texts(const std::vector<std::string>& args) {
  std::vector<std::string> texts;
  for (const std::string& arg : args) {
    if (arg != "-") {
      texts.push_back(arg);
      continue;
    }
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      texts.push_back(std::move(line));
    }
    if (std::cin.bad()) return Status::io_error("reading texts from stdin failed");
  }
  return texts;
}

Result<std::string> read_stdin() {
  std::string text{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  if (std::cin.bad()) return Status::io_error("reading text from stdin failed");
  return text;
}

namespace {

constexpr const char* kModelHint =
    "--model wants a .gguf file or a Hugging Face model directory (config.json, "
    "model.safetensors and the tokenizer files)";

bool has_safetensors(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".safetensors") return true;
  }
  return false;
}

}  // namespace

namespace {

// Opens with `open`, turning stray exceptions and the usual first-run mistakes into messages that
// name the path and say what --model expects.
template <typename T, typename Open>
Result<std::unique_ptr<T>> open_with_hints(const std::string& model_path, Open open) {
  std::error_code ec;
  const fs::file_status st = fs::status(model_path, ec);
  if (!fs::exists(st)) {
    return Status::not_found(model_path + ": no such file or directory; " + kModelHint);
  }
  Result<std::unique_ptr<T>> opened = [&]() -> Result<std::unique_ptr<T>> {
    try {
      return open();
    } catch (const std::exception& e) {
      // The library promises Status, not exceptions; a stray one (bad_alloc on a huge declared
      // size) still must not end the process without a message.
      return Status::internal(model_path + ": " + e.what());
    }
  }();
  if (opened.ok()) return opened;

  Status status = opened.status();
  if (status.message().find(model_path) == std::string::npos)
    status = status.with_context(model_path);
  if (!fs::is_directory(st) || has_safetensors(model_path)) return status;
  if (!fs::exists(fs::path(model_path) / "config.json", ec)) {
    return Status::not_found(status.message() + "; it is not a model folder: " + kModelHint);
  }
  // The most common first-run mistake: the tokenizer/config folder without its weights.
  return Status::not_found(status.message() +
                           "; the weights are not in the directory: for all-MiniLM-L6-v2, "
                           "download model.safetensors from "
                           "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2 and "
                           "put it beside config.json");
}

}  // namespace

Result<std::unique_ptr<embed::Encoder>> open_encoder(const std::string& model,
                                                     const embed::EncoderOptions& options) {
  RAGKIT_ASSIGN_OR_RETURN(const std::string model_path, resolve_model(model));
  return open_with_hints<embed::Encoder>(
      model_path, [&] { return embed::Encoder::open(model_path, options); });
}

Result<std::unique_ptr<embed::Model>> open_model(const std::string& model,
                                                 const embed::ModelLoadOptions& options) {
  RAGKIT_ASSIGN_OR_RETURN(const std::string model_path, resolve_model(model));
  return open_with_hints<embed::Model>(model_path,
                                       [&] { return embed::Model::load(model_path, options); });
}

std::function<bool(std::string_view)> stdout_streamer(bool& write_failed) {
  return [&write_failed](std::string_view piece) {
    if (std::fwrite(piece.data(), 1, piece.size(), stdout) != piece.size() ||
        std::fflush(stdout) != 0) {
      write_failed = true;
      return false;
    }
    return true;
  };
}

Status flush_stdout() {
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    return Status::io_error("writing to stdout failed");
  }
  return Status::ok_status();
}

int finish_output() {
  Status flushed = flush_stdout();
  return flushed.ok() ? 0 : report_error(flushed);
}

}  // namespace ragkit::cli
