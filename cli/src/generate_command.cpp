#include "generate_command.h"

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ragkit/embed/chat_template.h"
#include "ragkit/embed/generator.h"
#include "ragkit/embed/sampler.h"

namespace ragkit::cli {

namespace {

struct GenerateArgs {
  std::string model;
  std::string prompt;
  bool json = false;
  bool chat = false;
  std::string system;
  std::string chat_template;  // override of the detected family
  int64_t ctx_size = 0;
  embed::KvType cache_type = embed::KvType::kF16;
  embed::ModelLoadOptions load;
  embed::SamplingOptions sampling;
  int64_t seed = -1;  // -1: SamplingOptions' default seed
  bool random_seed = false;
};

int run_generate(GenerateArgs& args) {
  Result<std::unique_ptr<embed::Model>> opened = open_model(args.model, args.load);
  if (!opened.ok()) return report_error(opened.status());
  const embed::Model& model = **opened;
  const embed::Tokenizer& tokenizer = model.tokenizer();

  std::string prompt = args.prompt;
  if (prompt == "-") {
    Result<std::string> read = read_stdin();
    if (!read.ok()) return report_error(read.status());
    prompt = std::move(*read);
  }

  std::vector<embed::TokenId> ids;
  if (args.chat) {
    embed::ChatTemplateKind kind = embed::detect_chat_template(model.chat_template());
    if (!args.chat_template.empty()) {
      Result<embed::ChatTemplateKind> parsed = embed::parse_chat_template_kind(args.chat_template);
      if (!parsed.ok()) return report_error(parsed.status());
      kind = *parsed;
    } else if (model.chat_template().empty()) {
      report_warning(model.name() + " has no chat template (a base model?); using a plain "
                     "\"User:/Assistant:\" prompt");
    }
    std::vector<embed::ChatMessage> messages;
    if (!args.system.empty()) messages.push_back({"system", args.system});
    messages.push_back({"user", prompt});
    // The tokenizer adds BOS itself (encode_prompt), so the template must not write it again.
    const std::string text = embed::format_chat(kind, messages, /*add_generation_prompt=*/true, "");
    // The template's own markers are control tokens; the user's text inside it is not trusted
    // to be free of them, which a chat front end would handle per message — here the whole
    // prompt comes from the person running the command.
    ids = tokenizer.encode_prompt(text);
    for (const std::string& s : embed::chat_template_stop_strings(kind)) {
      args.sampling.stop_strings.push_back(s);
    }
  } else {
    ids = tokenizer.encode_prompt(prompt);
  }
  if (ids.empty()) {
    return report_error("the prompt is empty and the model adds no BOS token to start from");
  }

  if (args.random_seed) {
    args.sampling.seed = std::nullopt;
  } else if (args.seed >= 0) {
    args.sampling.seed = static_cast<uint32_t>(args.seed);
  }

  embed::GeneratorOptions gen_options;
  gen_options.n_ctx = args.ctx_size;
  gen_options.cache_type = args.cache_type;
  Result<std::unique_ptr<embed::Generator>> generator =
      embed::Generator::create(model, ThreadPool::default_pool(), gen_options);
  if (!generator.ok()) return report_error(generator.status());

  bool write_failed = false;
  embed::TextCallback stream;
  if (!args.json) stream = stdout_streamer(write_failed);
  Result<embed::Generation> result = (*generator)->generate(ids, args.sampling, stream);
  if (!result.ok()) return report_error(result.status());
  if (write_failed) return report_error("writing to stdout failed");
  const embed::Generation& g = *result;

  if (args.json) {
    nlohmann::ordered_json doc;
    doc["text"] = g.text;
    doc["tokens"] = g.tokens;
    doc["prompt_tokens"] = g.prompt_tokens;
    doc["completion_tokens"] = g.completion_tokens;
    doc["stop_reason"] = embed::stop_reason_name(g.stop_reason);
    doc["prefill_tokens_per_second"] =
        g.prefill_seconds > 0 ? static_cast<double>(g.prompt_tokens) / g.prefill_seconds : 0.0;
    doc["decode_tokens_per_second"] =
        g.decode_seconds > 0 ? static_cast<double>(g.completion_tokens) / g.decode_seconds : 0.0;
    const std::string out =
        doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
  } else {
    std::fputc('\n', stdout);
  }
  if (g.stop_reason == embed::StopReason::kContextFull) {
    report_warning("stopped: the context window of " + std::to_string((*generator)->n_ctx()) +
                   " tokens is full (--ctx-size)");
  }
  return finish_output();
}

}  // namespace

Command add_generate_command(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text with a local model, streamed");
  add_model_option(*cmd, args->model,
                   "A causal language model: a .gguf file (llama, qwen2, gpt2; F32, F16, Q8_0, "
                   "Q4_K, ...) or a Hugging Face model directory");
  embed::SamplingOptions& s = args->sampling;
  cmd->add_flag("--json", args->json,
                "Print one JSON object at the end (text, tokens, counts, stop reason, speeds) "
                "instead of streaming");
  cmd->add_option("-n,--max-tokens", s.max_tokens, "Most tokens to generate (0: until the end "
                  "of generation or a full context)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--temperature,--temp", s.temperature, "Sampling temperature; 0 is greedy")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-k", s.top_k, "Keep the k most likely tokens (0: off)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", s.top_p, "Nucleus sampling threshold (1: off)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--min-p", s.min_p, "Drop tokens less likely than this times the best (0: off)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--repeat-penalty", s.repeat_penalty, "Penalty for repeating recent tokens "
                  "(1: off)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--repeat-last-n", s.repeat_last_n, "How many recent tokens the penalty "
                  "looks at (-1: all)")
      ->capture_default_str();
  cmd->add_option("--seed", args->seed, "Random seed (same seed, same text; default 1234)")
      ->check(CLI::Range(int64_t{0}, int64_t{UINT32_MAX}));
  cmd->add_flag("--random-seed", args->random_seed, "Draw a fresh random seed");
  cmd->add_option("--stop", s.stop_strings, "Stop when the text contains this string (may be "
                  "repeated); it is not printed");
  cmd->add_flag("--chat", args->chat,
                "Wrap the prompt as a user message in the model's chat template");
  cmd->add_option("--system", args->system, "System message for --chat");
  cmd->add_option("--chat-template", args->chat_template,
                  "Override the detected template: chatml, llama3, mistral, llama2, gemma, "
                  "phi3, zephyr or plain");
  cmd->add_option("-c,--ctx-size", args->ctx_size,
                  "Context window in tokens (default: the model's, at most 4096)")
      ->check(CLI::NonNegativeNumber);
  add_cache_type_option(*cmd, args->cache_type);
  add_load_options(*cmd, args->load);
  cmd->add_option("prompt", args->prompt, "The prompt (may be \"\"); \"-\" reads it from stdin")
      ->required()
      ->option_text("PROMPT");
  cmd->footer(
      "Examples:\n"
      "  rag generate --model stories260K.gguf --temperature 0 --max-tokens 40 \"\"\n"
      "  rag generate --model SmolLM2-135M-Instruct-Q8_0.gguf --chat \"What is RAG?\"");
  return {cmd, [args] { return run_generate(*args); }};
}

}  // namespace ragkit::cli
