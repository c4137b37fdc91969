// ragkit_make_test_model: writes a model folder with a real model's config and tokenizer and
// deterministic random weights (tests/support/random_model.h), for the PyTorch reference
// (tools/reference/sentence_embedding_reference.py), benchmarks and manual checks.
//
//   ragkit_make_test_model --source $RAGKIT_MODELS_DIR/all-MiniLM-L6-v2 --out /tmp/minilm-random
//                          [--seed 42] [--dtype F32|F16|BF16] [--name-prefix bert.]
//   ragkit_make_test_model --arch gpt2 --out /tmp/gpt2-random [--seed 42]
//   ragkit_make_test_model --arch llama --source $RAGKIT_TOKENIZERS_DIR/ggml-vocab-starcoder.gguf
//                          --out /tmp/smollm2-shape-F32.gguf [--seed 42]
#include <CLI/CLI.hpp>
#include <cstdint>
#include <iostream>
#include <string>

#include "ragkit/embed/tensor.h"
#include "random_model.h"

int main(int argc, char** argv) {
  CLI::App app{"Write a BERT model folder with deterministic random weights"};
  std::string source;
  std::string out;
  uint64_t seed = 42;
  std::string dtype_name = "F32";
  std::string name_prefix;
  std::string arch = "bert";
  app.add_option("--arch", arch, "bert (default: a copy of --source's configuration), gpt2 (a "
                 "tiny GPT-2 for tools/reference/gpt2_reference.py) or llama (a GGUF of "
                 "SmolLM2-135M's shape with --source's tokenizer, for benchmarks)");
  app.add_option("--source", source, "Model folder whose config and tokenizer are copied (bert)");
  app.add_option("--out", out, "Folder to write (created if needed)")->required();
  app.add_option("--seed", seed, "Random seed (default 42)");
  app.add_option("--dtype", dtype_name, "F32 (default), F16 or BF16");
  app.add_option("--name-prefix", name_prefix, "Tensor name prefix: \"\" (default) or \"bert.\"");
  CLI11_PARSE(app, argc, argv);

  if (arch == "gpt2") {
    ragkit::testing::RandomGpt2Options options;
    options.seed = seed;
    const ragkit::Status status = ragkit::testing::make_random_gpt2_model(out, options);
    if (!status.ok()) {
      std::cerr << "ragkit_make_test_model: " << status.to_string() << "\n";
      return 1;
    }
    std::cout << "wrote " << out << "/model.safetensors (gpt2, seed " << options.seed << ")\n";
    return 0;
  }
  if (arch == "llama") {
    // --source: a GGUF whose tokenizer to copy; --out: the .gguf to write.
    ragkit::testing::RandomLlamaOptions options;
    options.seed = seed;
    const ragkit::Status status = ragkit::testing::make_random_llama_gguf(source, out, options);
    if (!status.ok()) {
      std::cerr << "ragkit_make_test_model: " << status.to_string() << "\n";
      return 1;
    }
    std::cout << "wrote " << out << " (llama, SmolLM2-135M's shape, seed " << seed << ")\n";
    return 0;
  }
  if (arch != "bert" || source.empty()) {
    std::cerr << "ragkit_make_test_model: --arch is bert, gpt2 or llama; bert and llama need "
                 "--source\n";
    return 2;
  }
  ragkit::Result<ragkit::embed::DType> dtype = ragkit::embed::dtype_from_name(dtype_name);
  if (!dtype.ok()) {
    std::cerr << "ragkit_make_test_model: " << dtype.status().to_string() << "\n";
    return 2;
  }
  ragkit::testing::RandomBertOptions options;
  options.seed = seed;
  options.dtype = *dtype;
  options.name_prefix = name_prefix;
  const ragkit::Status status = ragkit::testing::make_random_bert_model(source, out, options);
  if (!status.ok()) {
    std::cerr << "ragkit_make_test_model: " << status.to_string() << "\n";
    return 1;
  }
  std::cout << "wrote " << out << "/model.safetensors (seed " << seed << ", "
            << ragkit::embed::dtype_name(*dtype) << ")\n";
  return 0;
}
