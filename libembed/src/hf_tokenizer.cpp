#include "ragkit/embed/hf_tokenizer.h"

#include <filesystem>
#include <system_error>

#include "json_util.h"
#include "ragkit/common/mapped_file.h"
#include "ragkit/embed/wordpiece_tokenizer.h"
#include "tokenizer/hf_bpe.h"

namespace ragkit::embed {

Result<std::unique_ptr<Tokenizer>> load_hf_tokenizer(const std::string& model_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  // tokenizer.json first: it is the complete description (normalizer, pre-tokenizer, model),
  // while vocab.txt relies on BertTokenizer's defaults for whatever the config leaves out.
  const fs::path json_path = fs::path(model_dir) / "tokenizer.json";
  const fs::path config_path = fs::path(model_dir) / "tokenizer_config.json";
  if (fs::is_regular_file(json_path, ec)) {
    RAGKIT_ASSIGN_OR_RETURN(std::string text, read_file(json_path.string()));
    RAGKIT_ASSIGN_OR_RETURN(nlohmann::json root, parse_json(text, json_path.string()));
    std::string model_type;
    if (root.is_object() && root.contains("model") && root["model"].is_object()) {
      const nlohmann::json& type = root["model"].value("type", nlohmann::json());
      if (type.is_string()) model_type = type.get<std::string>();
    }
    if (model_type == "BPE") {
      nlohmann::json config;
      const bool has_config = fs::is_regular_file(config_path, ec);
      if (has_config) {
        RAGKIT_ASSIGN_OR_RETURN(config, read_json_file(config_path.string()));
        if (!config.is_object()) {
          return Status::corruption(config_path.string() + ": not a JSON object");
        }
      }
      RAGKIT_ASSIGN_OR_RETURN(
          std::unique_ptr<BpeTokenizer> tokenizer,
          bpe_from_tokenizer_json(root, has_config ? &config : nullptr, json_path.string()));
      return std::unique_ptr<Tokenizer>(std::move(tokenizer));
    }
    // WordPiece, or no model type: from_tokenizer_json says what it cannot read.
    if (!model_type.empty() && model_type != "WordPiece") {
      return Status::not_supported(json_path.string() + ": tokenizer model '" + model_type +
                                   "' is not supported (supported: WordPiece, BPE)");
    }
    RAGKIT_ASSIGN_OR_RETURN(std::unique_ptr<WordPieceTokenizer> tokenizer,
                            WordPieceTokenizer::from_tokenizer_json(text, json_path.string()));
    return std::unique_ptr<Tokenizer>(std::move(tokenizer));
  }
  const fs::path vocab_path = fs::path(model_dir) / "vocab.txt";
  if (fs::is_regular_file(vocab_path, ec)) {
    RAGKIT_ASSIGN_OR_RETURN(std::unique_ptr<WordPieceTokenizer> tokenizer,
                            WordPieceTokenizer::from_vocab_file(vocab_path.string(), {}));
    return std::unique_ptr<Tokenizer>(std::move(tokenizer));
  }
  return Status::not_found(model_dir +
                           ": no tokenizer: neither tokenizer.json nor vocab.txt is there");
}

}  // namespace ragkit::embed
