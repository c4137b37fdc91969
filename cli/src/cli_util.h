// What every `rag` subcommand shares: how it is registered with main(), how it reports errors and
// warnings, how it reads its input texts, and how it opens a model.
//
// Output contract: results go to stdout, diagnostics to stderr as "rag: error: ..." (exit code 1)
// or "rag: warning: ...", so a script can pipe stdout and still see what went wrong.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/embed/encoder.h"
#include "ragkit/embed/kv_cache.h"
#include "ragkit/embed/model.h"

namespace ragkit::cli {

// A subcommand registered on the application before parsing. main() calls run() for the one the
// user chose, after the global options (--threads) have been applied; it returns the exit code.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

// Prints "rag: error: <message>" to stderr and returns the exit code for a failed command (1).
int report_error(const Status& status);
int report_error(std::string_view message);
// Prints "rag: warning: <message>" to stderr.
void report_warning(std::string_view message);
// Prints "rag: note: <message>" to stderr: what a command chose for the user, and how to change it.
void report_note(std::string_view message);

// Adds the required `-m,--model PATH` option of a command that loads a model.
void add_model_option(CLI::App& command, std::string& model, const std::string& description);

// Adds how a model is loaded: `--no-mmap`, read the weights into memory (2 MB pages) instead of
// mapping the file (embed::ModelLoadOptions::in_memory), and `--no-repack`, leave the rows of
// the matrices as they are (ModelLoadOptions::repack).
void add_load_options(CLI::App& command, embed::ModelLoadOptions& options);

// Adds `--cache-type f16|f32`, the generator's KV cache element type (default f16, as
// llama.cpp's; f32 keeps every bit).
void add_cache_type_option(CLI::App& command, embed::KvType& type);

// Adds the global `--threads N` option; `threads` keeps 0 (all cores) unless the user sets it.
void add_threads_option(CLI::App& app, int& threads);
// Sizes the process-wide compute pool. Must run before anything touches the pool (before a model
// is opened), which is why main() calls it between parsing and running the command.
Status apply_threads(int threads);

// The texts named on the command line; an argument "-" stands for the lines of stdin, one text
// per line (a trailing "\r" is dropped so files with CRLF endings work).
Result<std::vector<std::string>> read_texts(const std::vector<std::string>& args);
// The whole of stdin as one text.
Result<std::string> read_stdin();

// Encoder::open of `model`, a path or a name resolve_model() (collection_util.h) finds in (or
// pulls into) the model cache, with a message that names the path and says what --model expects
// when it does not exist or is not a model.
Result<std::unique_ptr<embed::Encoder>> open_encoder(const std::string& model,
                                                     const embed::EncoderOptions& options = {});

// Model::load with the same resolution and messages: for commands that need the model itself (a
// generator, a tokenizer) rather than an encoder.
Result<std::unique_ptr<embed::Model>> open_model(const std::string& model,
                                                 const embed::ModelLoadOptions& options = {});

// A text callback (generated text as it forms) that writes each piece to stdout and flushes; a
// failed write (a closed pipe) sets `write_failed` and asks the generator to stop.
std::function<bool(std::string_view)> stdout_streamer(bool& write_failed);

// Flushes stdout; a failed write (disk full, closed pipe) becomes an error instead of exit 0.
Status flush_stdout();
// The last step of a command that printed its result: flushes stdout and returns the exit code,
// 0, or 1 with the error reported when the output could not be written.
int finish_output();

}  // namespace ragkit::cli
