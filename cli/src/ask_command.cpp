#include "ask_command.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "collection_util.h"
#include "ragkit/rag/answerer.h"
#include "ragkit/rag/json.h"

namespace ragkit::cli {
namespace {

struct AskArgs {
  std::string question;
  std::string db = kDefaultDb;
  std::string generator;
  std::string model;  // embedding model; empty: the one `rag index` used
  std::string mode = "hybrid";
  std::string path_glob;
  std::string prompt_template;
  std::string chat_template;
  size_t k = 5;
  int64_t ctx_size = 0;
  embed::KvType cache_type = embed::KvType::kF16;
  embed::ModelLoadOptions load;  // the generator's
  int64_t seed = -1;
  bool extractive = false;
  bool json = false;
  rag::AskOptions options;
};

// Everything an answer needs, opened once per command.
struct Session {
  std::unique_ptr<retrieval::Collection> collection;
  std::unique_ptr<embed::Encoder> encoder;
  std::unique_ptr<embed::Model> generator;
  std::unique_ptr<rag::Retriever> retriever;
  std::unique_ptr<rag::Answerer> answerer;
};

Result<Session> open_session(AskArgs& a) {
  Session s;
  RAGKIT_ASSIGN_OR_RETURN(s.collection, open_collection_for_reading(a.db));
  RAGKIT_ASSIGN_OR_RETURN(rag::SearchMode mode, rag::parse_search_mode(a.mode));
  // Lexical search needs no encoder, but extractive answers use it to rank sentences when it
  // can be opened.
  Result<std::unique_ptr<embed::Encoder>> encoder =
      open_query_encoder(a.db, *s.collection, a.model);
  if (encoder.ok()) {
    s.encoder = std::move(*encoder);
  } else if (mode != rag::SearchMode::kLexical) {
    return encoder.status();
  }
  if (!s.encoder && mode != rag::SearchMode::kLexical) {
    report_note(lexical_only_note(a.db));
    mode = rag::SearchMode::kLexical;
  }
  if (!a.generator.empty()) {
    RAGKIT_ASSIGN_OR_RETURN(std::string path, resolve_model(a.generator));
    RAGKIT_ASSIGN_OR_RETURN(s.generator, open_model(path, a.load));
  } else if (!a.extractive && !a.json) {
    report_note("no --generator: answering extractively (the best sentences of the sources); "
                "`rag ask QUESTION --generator MODEL.gguf` writes an answer");
  }
  s.retriever = std::make_unique<rag::Retriever>(*s.collection, s.encoder.get());
  rag::AnswererOptions answerer_options;
  answerer_options.n_ctx = a.ctx_size;
  answerer_options.cache_type = a.cache_type;
  RAGKIT_ASSIGN_OR_RETURN(s.answerer,
                          rag::Answerer::create(*s.retriever, s.generator.get(),
                                                ThreadPool::default_pool(), answerer_options));

  rag::AskOptions& o = a.options;
  o.retrieve.k = a.k;
  o.retrieve.mode = mode;
  o.retrieve.filter.path_glob = a.path_glob;
  o.extractive = a.extractive;
  if (a.seed >= 0) o.sampling.seed = static_cast<uint32_t>(a.seed);
  if (!a.prompt_template.empty()) {
    RAGKIT_ASSIGN_OR_RETURN(o.prompt, rag::load_prompt_template(a.prompt_template));
  }
  if (!a.chat_template.empty()) {
    RAGKIT_ASSIGN_OR_RETURN(o.chat_template, embed::parse_chat_template_kind(a.chat_template));
  } else if (s.generator && s.generator->chat_template().empty()) {
    report_warning(s.generator->name() + " has no chat template (a base model?): using a plain "
                   "\"User:/Assistant:\" prompt");
  }
  return s;
}

void print_sources(const rag::Answer& answer, bool tty) {
  if (answer.sources.empty()) return;
  std::printf("\n%sSources:%s\n", tty ? "\033[1m" : "", tty ? "\033[0m" : "");
  for (size_t i = 0; i < answer.sources.size(); ++i) {
    const rag::Passage& p = answer.sources[i];
    const bool cited = std::binary_search(answer.cited.begin(), answer.cited.end(), i + 1);
    std::printf("%s[%zu] %s%s", cited ? "*" : " ", i + 1, rag::passage_location(p).c_str(),
                p.location.heading_path.empty() ? "" : "  — ");
    std::printf("%s  (%.4f)\n", p.location.heading_path.c_str(), p.score);
  }
  if (!answer.cited.empty()) std::printf("(* cited in the answer)\n");
}

// Asks one question; prints the answer (streamed) and its sources, or the JSON object.
Status answer_one(Session& s, const AskArgs& a, const std::string& question,
                  rag::Answer* out = nullptr) {
  const bool tty = isatty(STDOUT_FILENO) != 0;
  bool write_failed = false;
  rag::AnswerCallback stream;
  if (!a.json) stream = stdout_streamer(write_failed);
  RAGKIT_ASSIGN_OR_RETURN(rag::Answer answer, s.answerer->ask(question, a.options, stream));
  if (write_failed) return Status::io_error("writing to stdout failed");
  if (a.json) {
    nlohmann::ordered_json doc = rag::answer_json(answer);
    doc["retrieve_seconds"] = answer.retrieve_seconds;
    doc["prefill_seconds"] = answer.prefill_seconds;
    doc["decode_seconds"] = answer.decode_seconds;
    const std::string text =
        doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
    std::fwrite(text.data(), 1, text.size(), stdout);
  } else {
    std::printf("\n");
    print_sources(answer, tty);
    if (answer.stop_reason == "context") {
      report_warning("the answer stopped at the end of the generator's context window");
    }
  }
  if (out != nullptr) *out = std::move(answer);
  return flush_stdout();
}

int run_ask(AskArgs& a) {
  if (a.question == "-") {
    Result<std::string> read = read_stdin();
    if (!read.ok()) return report_error(read.status());
    a.question = std::move(*read);
  }
  if (a.question.find_first_not_of(" \t\r\n") == std::string::npos) {
    return report_error("the question is empty");
  }
  Result<Session> session = open_session(a);
  if (!session.ok()) return report_error(session.status());
  Status answered = answer_one(*session, a, a.question);
  if (!answered.ok()) return report_error(answered);
  return 0;
}

int run_chat(AskArgs& a) {
  Result<Session> session = open_session(a);
  if (!session.ok()) return report_error(session.status());
  const bool interactive = isatty(STDIN_FILENO) != 0;
  if (interactive) {
    std::fprintf(stderr, "Ask about the documents in %s; /reset forgets the conversation, "
                         "/exit quits.\n", a.db.c_str());
  }
  std::string line;
  while (true) {
    if (interactive) std::fprintf(stderr, "> ");
    if (!std::getline(std::cin, line)) break;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      a.options.history.clear();
      if (interactive) std::fprintf(stderr, "(conversation forgotten)\n");
      continue;
    }
    rag::Answer answer;
    Status answered = answer_one(*session, a, line, &answer);
    if (!answered.ok()) return report_error(answered);
    if (!a.json) std::printf("\n");
    a.options.history.push_back({"user", line});
    a.options.history.push_back({"assistant", answer.text});
  }
  return finish_output();
}

void add_ask_options(CLI::App& cmd, AskArgs& a) {
  cmd.add_option("--db", a.db, "Collection folder (default ./.ragkit)");
  cmd.add_option("-g,--generator", a.generator,
                 "Generator that writes the answer: a .gguf file or Hugging Face directory "
                 "(llama, qwen2, gpt2); without one the answer is extractive");
  cmd.add_option("-m,--model", a.model,
                 "Embedding model for the query (default: the one the collection was indexed "
                 "with; \"none\" for lexical search only)");
  cmd.add_option("-k", a.k, "Sources to retrieve (default 5)")->check(CLI::Range(1, 100));
  cmd.add_option("--mode", a.mode, "Retrieval: dense, lexical or hybrid (default)")
      ->check(CLI::IsMember({"dense", "lexical", "hybrid"}));
  cmd.add_option("--path", a.path_glob, "Only documents whose path matches this glob");
  rag::AskOptions& o = a.options;
  cmd.add_option("-n,--max-tokens", o.max_tokens, "Most tokens of the answer")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  cmd.add_option("--temperature,--temp", o.sampling.temperature, "Sampling temperature; 0 is greedy")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--top-p", o.sampling.top_p, "Nucleus sampling threshold (1: off)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd.add_option("--seed", a.seed, "Seed of the sampler (same seed, same answer)")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--ctx-size", a.ctx_size, "The generator's context window in tokens (default: "
                 "the model's, at most 4096)")
      ->check(CLI::NonNegativeNumber);
  add_cache_type_option(cmd, a.cache_type);
  add_load_options(cmd, a.load);
  cmd.add_option("--min-score", o.min_dense_score,
                 "Least cosine for a passage to count as relevant")
      ->capture_default_str();
  cmd.add_option("--min-bm25", o.min_lexical_score,
                 "Least BM25 score for a passage to count as relevant")
      ->capture_default_str();
  cmd.add_option("--prompt-template", a.prompt_template,
                 "JSON file with \"system\", \"source\" and \"user\" templates ({n}, {path}, "
                 "{location}, {heading}, {text}, {sources}, {question})");
  cmd.add_option("--chat-template", a.chat_template,
                 "Chat format instead of the detected one (chatml, llama3, mistral, llama2, "
                 "gemma, phi3, zephyr, plain)");
  cmd.add_flag("--extractive", a.extractive,
               "Answer with the sources' best sentences even with a generator");
  cmd.add_flag("--json", a.json, "Print one JSON object per answer instead of streaming");
}

}  // namespace

Command add_ask_command(CLI::App& app) {
  auto args = std::make_shared<AskArgs>();
  CLI::App* cmd = app.add_subcommand("ask", "Answer a question from the indexed documents, "
                                            "citing them");
  cmd->add_option("question", args->question, "The question (\"-\" reads it from stdin)")
      ->required();
  add_ask_options(*cmd, *args);
  return {cmd, [args] { return run_ask(*args); }};
}

Command add_chat_command(CLI::App& app) {
  auto args = std::make_shared<AskArgs>();
  CLI::App* cmd = app.add_subcommand("chat", "A conversation about the indexed documents "
                                             "(questions from stdin, one per line)");
  add_ask_options(*cmd, *args);
  return {cmd, [args] { return run_chat(*args); }};
}

}  // namespace ragkit::cli
