#include "ragkit/embed/hf_tokenizer.h"

#include <filesystem>
#include <system_error>

#include "ragkit/common/mapped_file.h"
#include "ragkit/embed/wordpiece_tokenizer.h"

namespace ragkit::embed {

Result<std::unique_ptr<Tokenizer>> load_hf_tokenizer(const std::string& model_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  // tokenizer.json first: it is the complete description (normalizer, pre-tokenizer, model),
  // while vocab.txt relies on BertTokenizer's defaults for whatever the config leaves out.
  const fs::path json_path = fs::path(model_dir) / "tokenizer.json";
  if (fs::is_regular_file(json_path, ec)) {
    RAGKIT_ASSIGN_OR_RETURN(std::string text, read_file(json_path.string()));
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
