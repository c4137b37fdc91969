#include "ragkit/rag/extractive.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <unordered_set>

#include "ragkit/common/utf8.h"
#include "ragkit/retrieval/text_segmenter.h"

namespace ragkit::rag {

namespace {

struct Candidate {
  std::string text;
  size_t source = 0;  // 1-based
  std::set<std::string> terms;
  size_t term_count = 0;  // terms with repeats: the sentence's length in words
  double score = 0.0;
};

// One line of text: runs of white space (newlines included) become one space, ends trimmed.
std::string collapse_spaces(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// ICU ends a sentence at every line break; hard-wrapped text breaks lines inside sentences. A
// single line break becomes a space, a blank line still ends a paragraph.
std::string join_wrapped_lines(std::string text) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\n') continue;
    const bool blank_before = i > 0 && text[i - 1] == '\n';
    const bool blank_after = i + 1 < text.size() && text[i + 1] == '\n';
    if (!blank_before && !blank_after) text[i] = ' ';
  }
  return text;
}

}  // namespace

Result<std::vector<ExtractedSentence>> extract_sentences(
    std::string_view question, std::span<const Passage> sources,
    const retrieval::TextAnalyzer& analyzer, std::span<const float> query_vector,
    const SentenceEmbedder& embed, const ExtractiveOptions& options) {
  RAGKIT_ASSIGN_OR_RETURN(retrieval::TextSegmenter segmenter, retrieval::TextSegmenter::create());

  std::vector<Candidate> candidates;
  std::vector<std::string> terms;
  std::unordered_set<std::string> seen;
  for (size_t s = 0; s < sources.size(); ++s) {
    const std::string text = join_wrapped_lines(repair_utf8(sources[s].text));
    const std::vector<size_t> bounds = segmenter.sentence_boundaries(text);
    for (size_t b = 0; b + 1 < bounds.size(); ++b) {
      std::string sentence =
          collapse_spaces(std::string_view(text).substr(bounds[b], bounds[b + 1] - bounds[b]));
      if (sentence.size() < options.min_sentence_bytes) continue;
      // A short line without a sentence's end is a heading or a label, not an answer.
      const char last = sentence.back();
      if (sentence.size() < 2 * options.min_sentence_bytes && last != '.' && last != '!' &&
          last != '?') {
        continue;
      }
      if (!seen.insert(sentence).second) continue;  // the chunks' overlap repeats sentences
      terms.clear();
      analyzer.analyze(sentence, terms);
      candidates.push_back(
          {std::move(sentence), s + 1, {terms.begin(), terms.end()}, terms.size(), 0.0});
    }
  }
  if (candidates.empty()) return std::vector<ExtractedSentence>{};

  terms.clear();
  analyzer.analyze(question, terms);
  const std::set<std::string> query_terms(terms.begin(), terms.end());
  // IDF over the candidate sentences: a word in every sentence says nothing about which answers.
  const double n = static_cast<double>(candidates.size());
  std::map<std::string, double> idf;
  double idf_total = 0.0;
  for (const std::string& t : query_terms) {
    size_t df = 0;
    for (const Candidate& c : candidates) df += c.terms.count(t);
    idf[t] = std::log(1.0 + n / (static_cast<double>(df) + 0.5));
    idf_total += idf[t];
  }
  // Length normalisation as BM25's (b = 0.5): of two sentences with the same words of the
  // question, the shorter one is more about them.
  double average_terms = 0.0;
  for (const Candidate& c : candidates) average_terms += static_cast<double>(c.term_count);
  average_terms = std::max(1.0, average_terms / n);
  for (Candidate& c : candidates) {
    double matched = 0.0;
    for (const std::string& t : query_terms) {
      if (c.terms.count(t) != 0) matched += idf[t];
    }
    const double length_norm = 0.5 + 0.5 * static_cast<double>(c.term_count) / average_terms;
    c.score = idf_total > 0 ? matched / idf_total / length_norm : 0.0;
    // Earlier sources ranked higher: a small preference that only breaks near-ties.
    c.score += 0.05 * (1.0 - static_cast<double>(c.source - 1) / static_cast<double>(sources.size()));
  }

  if (embed && !query_vector.empty()) {
    std::vector<std::string> texts;
    texts.reserve(candidates.size());
    for (const Candidate& c : candidates) texts.push_back(c.text);
    RAGKIT_ASSIGN_OR_RETURN(std::vector<float> vectors, embed(texts));
    const size_t dim = query_vector.size();
    if (vectors.size() == candidates.size() * dim) {
      for (size_t i = 0; i < candidates.size(); ++i) {
        double dot = 0, qq = 0, vv = 0;
        for (size_t j = 0; j < dim; ++j) {
          const double q = query_vector[j], v = vectors[i * dim + j];
          dot += q * v, qq += q * q, vv += v * v;
        }
        if (qq > 0 && vv > 0) candidates[i].score += dot / std::sqrt(qq * vv);
      }
    }
  }

  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  std::vector<ExtractedSentence> out;
  for (Candidate& c : candidates) {
    if (out.size() == options.max_sentences) break;
    out.push_back({std::move(c.text), c.source, c.score});
  }
  return out;
}

std::string join_extracted(std::span<const ExtractedSentence> sentences) {
  std::string out;
  for (const ExtractedSentence& s : sentences) {
    if (!out.empty()) out += ' ';
    const std::string cite = " [" + std::to_string(s.source) + "]";
    std::string text = s.text;
    const char last = text.empty() ? '\0' : text.back();
    if (last == '.' || last == '!' || last == '?') {
      text.insert(text.size() - 1, cite);
    } else {
      text += cite;
    }
    out += text;
  }
  return out;
}

}  // namespace ragkit::rag
