// chunk_document's invariants, with a whitespace counter, a word-piece-like counter (long words
// cost several tokens) and the real all-MiniLM-L6-v2 tokenizer through libembed:
//   - every chunk fits the budget, and its token_count is the counter's count of its text;
//   - a chunk's text is its [text_begin, text_end) of the document;
//   - the chunks, minus their overlaps, give every sentence of the document once, in order;
//   - overlaps are whole sentences from the end of the chunk before, within the share;
//   - original[byte_begin, byte_end) holds the chunk's first and last words, and line numbers
//     are those of these bytes;
//   - no chunk crosses a heading or a page; sentences longer than the budget are split.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "ragkit/embed/hf_tokenizer.h"
#include "ragkit/retrieval/chunker.h"
#include "ragkit/retrieval/document_loader.h"
#include "test_env.h"

namespace ragkit::retrieval {
namespace {

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

size_t count_words(std::string_view text) {
  size_t n = 0;
  bool in_word = false;
  for (char c : text) {
    if (is_space(c)) {
      in_word = false;
    } else if (!in_word) {
      in_word = true;
      ++n;
    }
  }
  return n;
}

// Like WordPiece on a small vocabulary: a word costs one token per 4 bytes.
size_t count_pieces(std::string_view text) {
  size_t n = 0, word = 0;
  for (char c : text) {
    if (is_space(c)) {
      n += (word + 3) / 4;
      word = 0;
    } else {
      ++word;
    }
  }
  return n + (word + 3) / 4;
}

std::string strip_spaces(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (!is_space(c)) out += c;
  }
  return out;
}

std::string first_word(std::string_view s) {
  size_t b = 0;
  while (b < s.size() && is_space(s[b])) ++b;
  size_t e = b;
  while (e < s.size() && !is_space(s[e])) ++e;
  return std::string(s.substr(b, e - b));
}

std::string last_word(std::string_view s) {
  size_t e = s.size();
  while (e > 0 && is_space(s[e - 1])) --e;
  size_t b = e;
  while (b > 0 && !is_space(s[b - 1])) --b;
  return std::string(s.substr(b, e - b));
}

// A document of `n` sentences of varied lengths, hard-wrapped at ~60 columns, paragraphs of 5.
std::string make_prose(size_t n, uint32_t seed) {
  static const char* kWords[] = {"alpha",  "beta",  "gamma", "delta",  "search",  "index",
                                 "vector", "token", "chunk", "folder", "meaning", "query"};
  std::string text, line;
  uint32_t state = seed;
  auto next = [&] { return state = state * 1664525u + 1013904223u; };
  for (size_t s = 0; s < n; ++s) {
    const size_t words = 3 + next() % 25;
    for (size_t w = 0; w < words; ++w) {
      std::string word = kWords[next() % 12];
      if (w == 0) word[0] = static_cast<char>(word[0] - 'a' + 'A');
      if (w + 1 == words) word += std::to_string(s) + ".";
      if (line.size() + word.size() + 1 > 60) {
        text += line + "\n";
        line.clear();
      }
      line += (line.empty() ? "" : " ") + word;
    }
    if (s % 5 == 4) {
      text += line + "\n\n";
      line.clear();
    }
  }
  return text + line + "\n";
}

// Checks every invariant of the header comment; `original` is the file the document came from.
void check_invariants(const LoadedDocument& doc, const std::string& original,
                      const std::vector<Chunk>& chunks, const TokenCounter& count,
                      const ChunkOptions& options) {
  ASSERT_FALSE(chunks.empty());
  std::string covered;  // chunk texts minus overlaps
  for (size_t i = 0; i < chunks.size(); ++i) {
    const Chunk& c = chunks[i];
    SCOPED_TRACE("chunk " + std::to_string(i) + ": " + c.text.substr(0, 80));
    EXPECT_LE(c.token_count, options.chunk_tokens);
    EXPECT_LE(c.token_count, options.max_tokens);
    EXPECT_EQ(c.token_count, count(c.text));
    EXPECT_EQ(c.text, doc.text.substr(c.text_begin, c.text_end - c.text_begin));
    EXPECT_FALSE(c.text.empty());
    EXPECT_FALSE(is_space(c.text.front()) || is_space(c.text.back()));
    ASSERT_LE(c.overlap_bytes, c.text.size());
    covered += c.text.substr(c.overlap_bytes);
    if (c.overlap_bytes > 0) {
      ASSERT_GT(i, 0u);
      const Chunk& previous = chunks[i - 1];
      // The overlap repeats the end of the chunk before, ends a sentence, and is within budget.
      const std::string overlap = c.text.substr(0, c.overlap_bytes);
      std::string trimmed = overlap;
      while (!trimmed.empty() && is_space(trimmed.back())) trimmed.pop_back();
      EXPECT_TRUE(previous.text.size() >= trimmed.size() &&
                  previous.text.compare(previous.text.size() - trimmed.size(), trimmed.size(),
                                        trimmed) == 0)
          << "overlap '" << trimmed << "' is not the end of the chunk before";
      EXPECT_EQ(trimmed.back(), '.') << "overlap is not a whole sentence";
      EXPECT_LE(count(trimmed), static_cast<size_t>(options.max_overlap_share *
                                                    static_cast<double>(options.chunk_tokens)));
      EXPECT_EQ(previous.heading_path, c.heading_path);
      EXPECT_EQ(previous.page, c.page);
    }
    // The original bytes hold the chunk's first and last words; lines are those bytes' lines.
    if (doc.positions == PositionSpace::kOriginalFile) {
      ASSERT_LE(c.byte_end, original.size());
      const std::string source = original.substr(c.byte_begin, c.byte_end - c.byte_begin);
      EXPECT_EQ(source.rfind(first_word(c.text), 0), 0u) << source.substr(0, 40);
      const std::string last = last_word(c.text);
      EXPECT_TRUE(source.size() >= last.size() &&
                  source.compare(source.size() - last.size(), last.size(), last) == 0)
          << "source ends '" << source.substr(source.size() - std::min<size_t>(40, source.size()));
      const auto lines_before = std::count(original.begin(), original.begin() + c.byte_begin, '\n');
      EXPECT_EQ(c.line_begin, static_cast<uint32_t>(lines_before + 1));
      const auto lines_through =
          std::count(original.begin(), original.begin() + c.byte_end - 1, '\n');
      EXPECT_EQ(c.line_end, static_cast<uint32_t>(lines_through + 1));
    }
  }
  std::string all_blocks;
  for (const TextBlock& b : doc.blocks)
    all_blocks += doc.text.substr(b.text_begin, b.text_end - b.text_begin);
  EXPECT_EQ(strip_spaces(covered), strip_spaces(all_blocks)) << "chunks minus overlaps != text";
}

TEST(IngestChunker, ProseInvariantsWithWordCounter) {
  const std::string file = make_prose(400, 7);
  auto doc = load_document_from_memory(file, FileType::kText, "prose.txt");
  ASSERT_TRUE(doc.ok());
  ChunkOptions options;
  options.chunk_tokens = 60;
  options.overlap_sentences = 1;
  auto chunks = chunk_document(*doc, count_words, options);
  ASSERT_TRUE(chunks.ok()) << chunks.status().to_string();
  check_invariants(*doc, file, *chunks, count_words, options);
  // Sentences stay whole across hard-wrapped lines: every chunk ends a sentence.
  size_t with_overlap = 0;
  for (const Chunk& c : *chunks) {
    EXPECT_EQ(c.text.back(), '.');
    if (c.overlap_bytes > 0) ++with_overlap;
  }
  // A sentence of at most 9 words (15% of 60) is repeated: about a quarter of them here.
  EXPECT_GT(with_overlap, chunks->size() / 4);
  // The budget is used: chunks are not much smaller than it on average.
  size_t total = 0;
  for (const Chunk& c : *chunks) total += c.token_count;
  EXPECT_GT(total / chunks->size(), options.chunk_tokens * 2 / 3);
}

TEST(IngestChunker, NoOverlapWhenAskedOrTooLong) {
  const std::string file = make_prose(100, 3);
  auto doc = load_document_from_memory(file, FileType::kText, "p.txt");
  ASSERT_TRUE(doc.ok());
  ChunkOptions options;
  options.chunk_tokens = 50;
  options.overlap_sentences = 0;
  auto chunks = chunk_document(*doc, count_words, options);
  ASSERT_TRUE(chunks.ok());
  for (const Chunk& c : *chunks) EXPECT_EQ(c.overlap_bytes, 0u);
  check_invariants(*doc, file, *chunks, count_words, options);
  options.overlap_sentences = 3;
  options.max_overlap_share = 0.05;  // 2 tokens: no sentence here is that short
  chunks = chunk_document(*doc, count_words, options);
  ASSERT_TRUE(chunks.ok());
  for (const Chunk& c : *chunks) EXPECT_EQ(c.overlap_bytes, 0u);
}

TEST(IngestChunker, LongSentencesSplitAtWordsAndLongWordsAtCharacters) {
  std::string file = "Short one. ";
  for (int i = 0; i < 300; ++i) file += "word" + std::to_string(i) + " ";
  file += "end of the long sentence. ";
  file += std::string(500, 'x') + " tail. Final short sentence.\n";
  auto doc = load_document_from_memory(file, FileType::kText, "long.txt");
  ASSERT_TRUE(doc.ok());
  ChunkOptions options;
  options.chunk_tokens = 40;
  auto chunks = chunk_document(*doc, count_pieces, options);
  ASSERT_TRUE(chunks.ok());
  check_invariants(*doc, file, *chunks, count_pieces, options);
  EXPECT_GT(chunks->size(), 10u);
  // The 500-byte word (125 pieces) is cut into pieces of at most 40 tokens (160 bytes).
  size_t x_pieces = 0;
  for (const Chunk& c : *chunks) {
    if (c.text.find("xxxx") != std::string::npos) ++x_pieces;
  }
  EXPECT_GE(x_pieces, 4u);
}

TEST(IngestChunker, HeadingsAndPagesStartChunks) {
  const std::string file =
      "# Guide\n\nIntro sentence one. Intro sentence two.\n\n## Install\n\nInstall it now. "
      "Then run it.\n\n## Use\n\nUse it well.\n";
  auto doc = load_document_from_memory(file, FileType::kMarkdown, "g.md");
  ASSERT_TRUE(doc.ok());
  ChunkOptions options;
  options.chunk_tokens = 100;  // everything would fit one chunk
  auto chunks = chunk_document(*doc, count_words, options);
  ASSERT_TRUE(chunks.ok());
  ASSERT_EQ(chunks->size(), 3u);
  EXPECT_EQ((*chunks)[0].text, "Guide\n\nIntro sentence one. Intro sentence two.");
  EXPECT_EQ((*chunks)[0].heading_path, "Guide");
  EXPECT_EQ((*chunks)[1].text, "Install\n\nInstall it now. Then run it.");
  EXPECT_EQ((*chunks)[1].heading_path, "Guide > Install");
  EXPECT_EQ((*chunks)[1].line_begin, 5u);
  EXPECT_EQ((*chunks)[1].line_end, 7u);
  EXPECT_EQ((*chunks)[2].heading_path, "Guide > Use");
  EXPECT_EQ((*chunks)[2].overlap_bytes, 0u);  // no overlap across a heading
  check_invariants(*doc, file, *chunks, count_words, options);
}

TEST(IngestChunker, AbbreviationsDoNotEndSentences) {
  const std::string file = "Mr. Smith went to Washington. He saw e.g. the monument.\n";
  auto doc = load_document_from_memory(file, FileType::kText, "a.txt");
  ASSERT_TRUE(doc.ok());
  ChunkOptions options;
  options.chunk_tokens = 5;  // one sentence per chunk
  options.overlap_sentences = 0;
  auto chunks = chunk_document(*doc, count_words, options);
  ASSERT_TRUE(chunks.ok());
  ASSERT_EQ(chunks->size(), 2u);
  EXPECT_EQ((*chunks)[0].text, "Mr. Smith went to Washington.");
  EXPECT_EQ((*chunks)[0].sentence_count, 1u);
}

TEST(IngestChunker, OptionsAreChecked) {
  LoadedDocument doc;
  ChunkOptions options;
  options.chunk_tokens = 300;  // above max_tokens 254
  auto chunks = chunk_document(doc, count_words, options);
  ASSERT_FALSE(chunks.ok());
  EXPECT_EQ(chunks.status().code(), Status::Code::kInvalidArgument);
  options.chunk_tokens = 0;
  EXPECT_FALSE(chunk_document(doc, count_words, options).ok());
  options.chunk_tokens = 100;
  options.max_overlap_share = 1.5;
  EXPECT_FALSE(chunk_document(doc, count_words, options).ok());
  options.max_overlap_share = 0.15;
  auto empty = chunk_document(doc, count_words, options);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

// The real tokenizer of the embedding model: chunks of at most 200 of its tokens, so encode()
// ([CLS] chunk [SEP]) never needs the 256-token cut.
TEST(IngestChunkerMiniLm, RealTokenizerNeverTruncates) {
  const std::string models = testing::models_dir();
  ASSERT_FALSE(models.empty());
  auto tokenizer = embed::load_hf_tokenizer(models + "/all-MiniLM-L6-v2");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status().to_string();
  const embed::Tokenizer& tok = **tokenizer;
  const TokenCounter count = [&](std::string_view text) { return tok.tokenize(text).size(); };
  std::string file = "# Notes\n\n" + make_prose(300, 11);
  file += "\n\nA run-on: ";
  for (int i = 0; i < 400; ++i) file += "antidisestablishmentarianism" + std::to_string(i) + ", ";
  file += "done.\n";
  auto doc = load_document_from_memory(file, FileType::kMarkdown, "n.md");
  ASSERT_TRUE(doc.ok());
  ChunkOptions options;  // 200 tokens, 1 sentence overlap, max 254
  auto chunks = chunk_document(*doc, count, options);
  ASSERT_TRUE(chunks.ok());
  check_invariants(*doc, file, *chunks, count, options);
  for (const Chunk& c : *chunks) {
    std::vector<embed::TokenId> ids = tok.tokenize(c.text);
    EXPECT_FALSE(tok.add_special_tokens(ids, 256)) << "chunk would be cut";
  }
}

}  // namespace
}  // namespace ragkit::retrieval
