#include "tokenize_command.h"

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ragkit/embed/tokenizer.h"

namespace ragkit::cli {

namespace {

using OrderedJson = nlohmann::ordered_json;

struct TokenizeArgs {
  std::string model;
  bool json = false;
  bool no_special = false;
  bool verbose = false;
  std::string text;
};

int run_tokenize(const TokenizeArgs& args) {
  // The tokenizer lives in the model files; loading the model maps the weights but reads none of
  // them, so this costs little more than loading the vocabulary.
  Result<std::unique_ptr<embed::Model>> opened = open_model(args.model);
  if (!opened.ok()) return report_error(opened.status());
  const embed::Model& model = **opened;
  const embed::Tokenizer& tokenizer = model.tokenizer();
  const bool generator = model.arch().mask == embed::AttentionMask::kCausal;

  std::string text = args.text;
  if (text == "-") {
    Result<std::string> read = read_stdin();
    if (!read.ok()) return report_error(read.status());
    text = std::move(*read);
  }

  // What the model is fed: an encoder's input with [CLS] ... [SEP], a generator's prompt with
  // BOS and control-token texts ("<|im_start|>") parsed as those tokens.
  std::vector<embed::TokenId> ids;
  if (args.no_special) {
    ids = tokenizer.tokenize(text);
  } else {
    ids = generator ? tokenizer.encode_prompt(text) : tokenizer.encode(text);
  }
  const size_t max_length = generator ? static_cast<size_t>(model.config().n_ctx_train)
                                      : model.declared_max_seq_length().value_or(
                                            static_cast<size_t>(model.config().n_ctx_train));
  if (!args.no_special && ids.size() > max_length) {
    report_warning("the text has " + std::to_string(ids.size()) + " tokens; " +
                   (generator ? "the model's context holds " + std::to_string(max_length)
                              : "rag embed cuts it to " + std::to_string(max_length) +
                                    " (max_seq_length)"));
  }

  std::string out;
  if (args.json) {
    OrderedJson ids_json = OrderedJson::array();
    OrderedJson tokens_json = OrderedJson::array();
    for (embed::TokenId id : ids) {
      ids_json.push_back(id);
      tokens_json.push_back(std::string(tokenizer.token_text(id)));
    }
    OrderedJson doc = OrderedJson::object();
    doc["ids"] = std::move(ids_json);
    doc["tokens"] = std::move(tokens_json);
    // replace: byte-level vocabularies hold pieces of UTF-8 characters.
    out = doc.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
    out.push_back('\n');
  } else if (args.verbose) {
    for (embed::TokenId id : ids) {
      out += std::to_string(id);
      out.push_back('\t');
      out += tokenizer.token_text(id);
      out.push_back('\n');
    }
  } else {
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i > 0) out.push_back(' ');
      out += std::to_string(ids[i]);
    }
    out.push_back('\n');
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return finish_output();
}

}  // namespace

Command add_tokenize_command(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "tokenize", "Show the token ids (and tokens) a model's tokenizer gives a text");
  add_model_option(*cmd, args->model,
                   "The model whose tokenizer to use: a .gguf file or a Hugging Face model "
                   "directory (an embedding model or a generator)");
  cmd->add_flag("--json", args->json, "Print {\"ids\": [...], \"tokens\": [...]} as JSON");
  cmd->add_flag("--no-special", args->no_special,
                "Plain text only: no [CLS]/[SEP] or BOS, and control-token texts stay text");
  cmd->add_flag("-v,--verbose", args->verbose,
                "Print one \"id<TAB>token\" line per token (plain output only)");
  cmd->add_option("text", args->text, "The text to tokenize; \"-\" reads it from stdin")
      ->required()
      ->option_text("TEXT");
  cmd->footer(
      "Examples:\n"
      "  rag tokenize --model models/all-MiniLM-L6-v2 \"How do I reset my password?\"\n"
      "  rag tokenize --model models/all-MiniLM-L6-v2 --verbose --no-special \"unaffable\"");
  return {cmd, [args] { return run_tokenize(*args); }};
}

}  // namespace ragkit::cli
