#include "embed_command.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "ragkit/embed/pooling.h"

namespace ragkit::cli {

namespace {

// JSON whose floats are float32: nlohmann then prints each the shortest way that reads back to
// the same float ("full precision" without the 17-digit noise of widening to double first), and
// keys stay in the order written so "model" and "dim" come before the long arrays.
using FloatJson = nlohmann::basic_json<nlohmann::ordered_map, std::vector, std::string, bool,
                                       std::int64_t, std::uint64_t, float>;

// Texts are embedded this many at a time so that a long stdin stream prints as it goes and the
// vectors of all texts never have to sit in memory at once (plain output).
constexpr size_t kTextsPerCall = 1024;
// More truncation warnings than this are summarised in one line instead of flooding stderr.
constexpr size_t kMaxTruncationWarnings = 10;

struct EmbedArgs {
  std::string model;
  bool json = false;
  std::string pooling;  // empty: what the model declares
  bool no_normalize = false;
  size_t max_seq_length = 0;
  std::vector<std::string> texts;
};

void append_plain_line(std::span<const float> vector, std::string& out) {
  char buf[64];
  for (size_t i = 0; i < vector.size(); ++i) {
    if (i > 0) out.push_back(' ');
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), vector[i], std::chars_format::fixed, 6);
    out.append(buf, ec == std::errc() ? end : buf);
  }
  out.push_back('\n');
}

class TruncationReporter {
 public:
  explicit TruncationReporter(size_t max_seq_length) : max_seq_length_(max_seq_length) {}

  // `first_text` is the 0-based index of result's first text among all the input texts.
  void add(const embed::EmbedResult& result, size_t first_text) {
    for (size_t i = 0; i < result.truncated.size(); ++i) {
      if (!result.truncated[i]) continue;
      if (++n_truncated_ > kMaxTruncationWarnings) continue;
      report_warning("text " + std::to_string(first_text + i + 1) + " has " +
                     std::to_string(result.n_tokens_full[i]) + " tokens; cut to " +
                     std::to_string(result.n_tokens[i]) + " (max_seq_length)");
    }
  }

  void finish() const {
    if (n_truncated_ > kMaxTruncationWarnings) {
      report_warning(std::to_string(n_truncated_ - kMaxTruncationWarnings) +
                     " more texts were cut to max_seq_length " + std::to_string(max_seq_length_));
    }
  }

 private:
  size_t max_seq_length_;
  size_t n_truncated_ = 0;
};

int run_embed(const EmbedArgs& args) {
  embed::EncoderOptions options;
  if (!args.pooling.empty()) {
    Result<embed::Pooling> pooling = embed::pooling_from_name(args.pooling);
    if (!pooling.ok()) return report_error(pooling.status());
    options.pooling = *pooling;
  }
  if (args.no_normalize) options.normalize = false;
  options.max_seq_length = args.max_seq_length;

  // The model first: a wrong --model path is reported before we sit waiting on stdin.
  Result<std::unique_ptr<embed::Encoder>> opened = open_encoder(args.model, options);
  if (!opened.ok()) return report_error(opened.status());
  embed::Encoder& encoder = **opened;

  Result<std::vector<std::string>> read = read_texts(args.texts);
  if (!read.ok()) return report_error(read.status());
  const std::vector<std::string>& texts = *read;

  TruncationReporter truncation(encoder.max_seq_length());
  FloatJson embeddings = FloatJson::array();
  FloatJson truncated = FloatJson::array();
  std::string line;
  for (size_t first = 0; first < texts.size(); first += kTextsPerCall) {
    const size_t n = std::min(kTextsPerCall, texts.size() - first);
    Result<embed::EmbedResult> result =
        encoder.embed(std::span<const std::string>(texts.data() + first, n));
    if (!result.ok()) return report_error(result.status());
    truncation.add(*result, first);
    for (size_t i = 0; i < n; ++i) {
      std::span<const float> vector = result->vector(i);
      if (args.json) {
        embeddings.push_back(std::vector<float>(vector.begin(), vector.end()));
        truncated.push_back(static_cast<bool>(result->truncated[i]));
      } else {
        line.clear();
        append_plain_line(vector, line);
        std::fwrite(line.data(), 1, line.size(), stdout);
      }
    }
  }
  truncation.finish();

  if (args.json) {
    FloatJson out = FloatJson::object();
    out["model"] = encoder.model_id();
    out["dim"] = encoder.dim();
    out["embeddings"] = std::move(embeddings);
    out["truncated"] = std::move(truncated);
    // replace: a model id is built from file names, which need not be valid UTF-8.
    const std::string text = out.dump(-1, ' ', false, FloatJson::error_handler_t::replace);
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
  }
  return finish_output();
}

}  // namespace

Command add_embed_command(CLI::App& app) {
  auto args = std::make_shared<EmbedArgs>();
  CLI::App* cmd = app.add_subcommand(
      "embed", "Turn texts into sentence vectors (one line of numbers per text, or JSON)");
  add_model_option(*cmd, args->model,
                   "The embedding model: a .gguf file or a Hugging Face model directory");
  cmd->add_flag(
      "--json", args->json,
      "Print {\"model\", \"dim\", \"embeddings\", \"truncated\"} as JSON, full precision");
  cmd->add_option("--pooling", args->pooling,
                  "How token vectors become one sentence vector (default: what the model declares, "
                  "else mean)")
      ->check(CLI::IsMember({"mean", "cls", "last"}))
      ->option_text("mean|cls|last");
  cmd->add_flag("--no-normalize", args->no_normalize,
                "Keep the raw pooled vectors instead of scaling them to unit length");
  cmd->add_option("--max-seq-length", args->max_seq_length,
                  "Cut longer inputs to N tokens, [CLS] and [SEP] included (default: the model's "
                  "max_seq_length)")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20))
      ->option_text("N");
  cmd->add_option("texts", args->texts, "Texts to embed; \"-\" reads one text per line from stdin")
      ->required()
      ->option_text("TEXT...");
  cmd->footer(
      "Examples:\n"
      "  rag embed --model models/all-MiniLM-L6-v2 \"How do I reset my password?\"\n"
      "  rag embed --model bge-small.gguf --json \"first text\" \"second text\"\n"
      "  cat sentences.txt | rag embed --model models/all-MiniLM-L6-v2 -\n"
      "Put -- before a text that starts with a dash.");
  return {cmd, [args] { return run_embed(*args); }};
}

}  // namespace ragkit::cli
