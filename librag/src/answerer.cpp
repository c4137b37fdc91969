#include "ragkit/rag/answerer.h"

#include <algorithm>
#include <chrono>

#include "ragkit/common/utf8.h"
#include "ragkit/rag/citations.h"

namespace ragkit::rag {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string_view trim(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

// Drops an incomplete UTF-8 sequence at the end of `text` (a cut between two tokens of one
// character).
void drop_partial_character(std::string& text) {
  size_t keep = text.size();
  for (size_t back = 1; back <= 3 && back <= text.size(); ++back) {
    const unsigned char c = static_cast<unsigned char>(text[text.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back
    const size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (need > back) keep = text.size() - back;
    break;
  }
  text.resize(keep);
}

}  // namespace

const char* answer_kind_name(AnswerKind kind) {
  switch (kind) {
    case AnswerKind::kGenerated: return "generated";
    case AnswerKind::kExtractive: return "extractive";
    case AnswerKind::kNoAnswer: return "no_answer";
  }
  return "no_answer";
}

Answerer::Answerer(const Retriever& retriever, const embed::Model* generator_model,
                   std::unique_ptr<embed::Generator> generator,
                   std::unique_ptr<retrieval::TextAnalyzer> analyzer)
    : retriever_(retriever),
      generator_model_(generator_model),
      generator_(std::move(generator)),
      analyzer_(std::move(analyzer)) {
  if (generator_model_ != nullptr) {
    // Texts of the vocabulary's control tokens, which documents must not smuggle into a prompt.
    const embed::Tokenizer& tokenizer = generator_model_->tokenizer();
    for (size_t id = 0; id < tokenizer.vocab_size(); ++id) {
      const auto token = static_cast<embed::TokenId>(id);
      if (!tokenizer.is_control(token)) continue;
      const std::string_view text = tokenizer.token_text(token);
      if (text.size() >= 2) control_texts_.emplace_back(text);
    }
  }
}

Result<std::unique_ptr<Answerer>> Answerer::create(const Retriever& retriever,
                                                   const embed::Model* generator_model,
                                                   ThreadPool& pool,
                                                   const AnswererOptions& options) {
  RAGKIT_ASSIGN_OR_RETURN(std::unique_ptr<retrieval::TextAnalyzer> analyzer,
                          retrieval::TextAnalyzer::create());
  std::unique_ptr<embed::Generator> generator;
  if (generator_model != nullptr) {
    embed::GeneratorOptions gen_options;
    gen_options.n_ctx = options.n_ctx;
    gen_options.cache_type = options.cache_type;
    RAGKIT_ASSIGN_OR_RETURN(generator,
                            embed::Generator::create(*generator_model, pool, gen_options));
  }
  return std::unique_ptr<Answerer>(
      new Answerer(retriever, generator_model, std::move(generator), std::move(analyzer)));
}

int64_t Answerer::n_ctx() const { return generator_ ? generator_->n_ctx() : 0; }

std::string Answerer::defuse_control_text(std::string_view text) const {
  std::string out(text);
  for (const std::string& control : control_texts_) {
    for (size_t at = out.find(control); at != std::string::npos; at = out.find(control, at)) {
      // "<|im_end|>" -> "< |im_end|>": still readable, no longer the control token's text.
      out.insert(at + 1, 1, ' ');
      at += control.size() + 1;
    }
  }
  return out;
}

Result<std::vector<Passage>> Answerer::relevant_passages(std::string_view question,
                                                         const AskOptions& options,
                                                         double* seconds,
                                                         std::vector<float>* query_vector) const {
  const auto start = std::chrono::steady_clock::now();
  RetrieveOptions retrieve = options.retrieve;
  retrieve.mode = retriever_.effective_mode(retrieve.mode);
  retrieve.k = options.candidates > 0 ? options.candidates : 2 * options.retrieve.k;
  RAGKIT_ASSIGN_OR_RETURN(std::vector<Passage> passages,
                          retriever_.retrieve(question, retrieve, query_vector));
  std::erase_if(passages, [&](const Passage& p) {
    const bool dense = p.dense_rank > 0 && p.dense_score >= options.min_dense_score;
    const bool lexical = p.lexical_rank > 0 && p.lexical_score >= options.min_lexical_score;
    return !dense && !lexical;
  });
  passages = drop_redundant(std::move(passages), options.redundancy);
  if (passages.size() > options.retrieve.k) passages.resize(options.retrieve.k);
  *seconds = seconds_since(start);
  return passages;
}

Result<Answerer::Plan> Answerer::plan(std::string_view question, const AskOptions& options) const {
  Plan plan;
  Answer& answer = plan.answer;
  RAGKIT_ASSIGN_OR_RETURN(std::vector<Passage> passages,
                          relevant_passages(question, options, &answer.retrieve_seconds,
                                            &plan.query_vector));
  const size_t retrieved = passages.size();
  if (passages.empty()) {
    answer.kind = AnswerKind::kNoAnswer;
    answer.text = std::string(kNoAnswerText);
    return plan;
  }
  if (!generator_ || options.extractive) {
    answer.kind = AnswerKind::kExtractive;
    answer.sources = std::move(passages);
    return plan;
  }

  answer.kind = AnswerKind::kGenerated;
  const embed::Tokenizer& tokenizer = generator_model_->tokenizer();
  plan.chat_kind = options.chat_template.value_or(
      embed::detect_chat_template(generator_model_->chat_template()));
  const auto count_tokens = [&tokenizer](std::string_view text) {
    return tokenizer.tokenize(text).size();
  };
  const auto prompt_ids = [&](std::span<const embed::ChatMessage> history,
                              std::span<const Passage> sources) {
    std::vector<embed::ChatMessage> messages =
        build_messages(options.prompt, history, sources, defuse_control_text(question));
    for (embed::ChatMessage& m : messages) m.content = std::string(trim(m.content));
    const std::string text =
        embed::format_chat(plan.chat_kind, messages, /*add_generation_prompt=*/true, "");
    return tokenizer.encode_prompt(text);
  };

  // Sources are framed as the prompt frames them; their texts are defused once here.
  for (Passage& p : passages) p.text = defuse_control_text(p.text);
  std::vector<embed::ChatMessage> history;
  for (const embed::ChatMessage& m : options.history) {
    history.push_back({m.role, defuse_control_text(m.content)});
  }

  const size_t n_ctx = static_cast<size_t>(generator_->n_ctx());
  // The instruction, the kept history and the question, without sources.
  size_t base = prompt_ids(history, {}).size();
  // Earlier turns go first, oldest first, when they leave the sources less than half the room.
  while (!history.empty() && base + static_cast<size_t>(std::max(options.max_tokens, 0)) +
                                     n_ctx / 4 > n_ctx) {
    history.erase(history.begin(), history.begin() + std::min<size_t>(2, history.size()));
    base = prompt_ids(history, {}).size();
  }
  if (base + 16 > n_ctx) {
    return Status::out_of_range("the question takes " + std::to_string(base) +
                                " tokens with the instruction; the generator's context holds " +
                                std::to_string(n_ctx));
  }
  answer.history_turns_used = history.size();
  // The answer's room: max_tokens, but never more than half of what the question leaves.
  plan.max_tokens = std::min<size_t>(static_cast<size_t>(std::max(options.max_tokens, 1)),
                                     (n_ctx - base) / 2);
  const size_t budget = n_ctx - base - plan.max_tokens;

  const auto frame = [&](const Passage& p, size_t n) {
    return render_source(options.prompt, p, n) + "\n";
  };
  const auto truncate = [&tokenizer](std::string_view text, size_t max_tokens) {
    std::vector<embed::TokenId> ids = tokenizer.tokenize(text);
    if (ids.size() > max_tokens) ids.resize(max_tokens);
    std::string cut = tokenizer.decode(ids);
    drop_partial_character(cut);
    return cut;
  };
  BudgetedContext context = fit_to_budget(std::move(passages), budget, count_tokens, truncate, frame);
  // Token counts of the parts need not add up exactly at their seams: drop from the end until
  // the whole prompt leaves the answer its room.
  plan.ids = prompt_ids(history, context.passages);
  while (plan.ids.size() + plan.max_tokens > n_ctx && context.passages.size() > 1) {
    context.passages.pop_back();
    ++context.dropped;
    plan.ids = prompt_ids(history, context.passages);
  }
  if (plan.ids.size() + plan.max_tokens > n_ctx) {
    plan.max_tokens = n_ctx > plan.ids.size() ? n_ctx - plan.ids.size() : 0;
    if (plan.max_tokens == 0) {
      return Status::out_of_range("the prompt does not fit the generator's context of " +
                                  std::to_string(n_ctx) + " tokens");
    }
  }
  answer.passages_dropped = retrieved - context.passages.size();
  answer.sources = std::move(context.passages);
  answer.prompt_tokens = static_cast<int64_t>(plan.ids.size());
  plan.history = std::move(history);
  return plan;
}

Result<embed::Generation> Answerer::chat(std::span<const embed::ChatMessage> messages,
                                         const embed::SamplingOptions& sampling,
                                         const AnswerCallback& on_text,
                                         std::optional<embed::ChatTemplateKind> chat_template) {
  if (!generator_) return Status::invalid_argument("no generator is loaded");
  const embed::ChatTemplateKind kind =
      chat_template.value_or(embed::detect_chat_template(generator_model_->chat_template()));
  std::vector<embed::ChatMessage> defused;
  defused.reserve(messages.size());
  for (const embed::ChatMessage& m : messages) {
    defused.push_back({m.role, defuse_control_text(m.content)});
  }
  const std::vector<embed::TokenId> ids = generator_model_->tokenizer().encode_prompt(
      embed::format_chat(kind, defused, /*add_generation_prompt=*/true, ""));
  if (static_cast<int64_t>(ids.size()) >= generator_->n_ctx()) {
    return Status::out_of_range("the conversation takes " + std::to_string(ids.size()) +
                                " tokens; the generator's context window holds " +
                                std::to_string(generator_->n_ctx()));
  }
  embed::SamplingOptions with_stops = sampling;
  for (const std::string& s : embed::chat_template_stop_strings(kind)) {
    with_stops.stop_strings.push_back(s);
  }
  std::lock_guard<std::mutex> lock(generate_mutex_);
  return generator_->generate(ids, with_stops, on_text);
}

Result<Answer> Answerer::prepare(std::string_view question, const AskOptions& options) const {
  RAGKIT_ASSIGN_OR_RETURN(Plan p, plan(question, options));
  return std::move(p.answer);
}

Result<Answer> Answerer::ask(std::string_view question, const AskOptions& options,
                             const AnswerCallback& on_text) {
  RAGKIT_ASSIGN_OR_RETURN(Plan p, plan(question, options));
  Answer& answer = p.answer;
  if (answer.kind == AnswerKind::kNoAnswer) {
    if (on_text) on_text(answer.text);
    return std::move(answer);
  }

  if (answer.kind == AnswerKind::kExtractive) {
    std::vector<float> query_vector = std::move(p.query_vector);
    SentenceEmbedder embed;
    if (retriever_.dense_available()) {
      // A lexical search did not embed the question; the sentence scores still want it.
      if (query_vector.empty()) {
        RAGKIT_ASSIGN_OR_RETURN(query_vector, retriever_.embed_query(question));
      }
      embed = [this](std::span<const std::string> texts) { return retriever_.embed_texts(texts); };
    }
    RAGKIT_ASSIGN_OR_RETURN(std::vector<ExtractedSentence> sentences,
                            extract_sentences(question, answer.sources, *analyzer_, query_vector,
                                              embed, options.extractive_options));
    if (sentences.empty()) {
      answer.kind = AnswerKind::kNoAnswer;
      answer.text = std::string(kNoAnswerText);
    } else {
      answer.text = join_extracted(sentences);
      answer.cited = find_citations(answer.text, answer.sources.size());
    }
    if (on_text) on_text(answer.text);
    return std::move(answer);
  }

  embed::SamplingOptions sampling = options.sampling;
  sampling.max_tokens = static_cast<int32_t>(p.max_tokens);
  for (const std::string& s : embed::chat_template_stop_strings(p.chat_kind)) {
    sampling.stop_strings.push_back(s);
  }
  // The stream carries exactly the final (trimmed) text: leading white space is dropped, and
  // white space is held back until more text follows it, so trailing white space never goes out.
  bool started = false;
  std::string pending_space;
  const auto is_space = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; };
  const embed::TextCallback stream = [&](std::string_view piece) {
    if (!started) {
      while (!piece.empty() && is_space(piece.front())) piece.remove_prefix(1);
      if (piece.empty()) return true;
      started = true;
    }
    size_t text_end = piece.size();
    while (text_end > 0 && is_space(piece[text_end - 1])) --text_end;
    if (text_end == 0) {
      pending_space.append(piece);
      return true;
    }
    bool go_on = true;
    if (on_text) {
      if (!pending_space.empty()) go_on = on_text(pending_space);
      if (go_on) go_on = on_text(piece.substr(0, text_end));
    }
    pending_space.assign(piece.substr(text_end));
    return go_on;
  };
  Result<embed::Generation> generation = Status::internal("no generation ran");
  {
    std::lock_guard<std::mutex> lock(generate_mutex_);
    generation = generator_->generate(p.ids, sampling, stream);
  }
  if (!generation.ok()) return generation.status();
  answer.text = std::string(trim(generation->text));
  answer.prompt_tokens = generation->prompt_tokens;
  answer.completion_tokens = generation->completion_tokens;
  answer.stop_reason = embed::stop_reason_name(generation->stop_reason);
  answer.prefill_seconds = generation->prefill_seconds;
  answer.decode_seconds = generation->decode_seconds;
  answer.cited = find_citations(answer.text, answer.sources.size());
  return std::move(answer);
}

}  // namespace ragkit::rag
