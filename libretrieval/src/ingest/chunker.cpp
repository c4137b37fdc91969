#include "ragkit/retrieval/chunker.h"

#include <algorithm>

#include "ragkit/retrieval/text_segmenter.h"

namespace ragkit::retrieval {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// One unit of packing: a whole sentence, or a piece of a sentence longer than the budget.
struct Unit {
  size_t begin = 0;  // [begin, end) of LoadedDocument::text, no edge whitespace
  size_t end = 0;
  size_t tokens = 0;
  bool whole_sentence = true;  // only whole sentences are repeated as overlap
};

class Chunker {
 public:
  Chunker(const LoadedDocument& document, const TokenCounter& count, const ChunkOptions& options,
          const TextSegmenter& segmenter)
      : document_(document),
        text_(document.text),
        count_(count),
        options_(options),
        segmenter_(segmenter) {
    max_overlap_tokens_ =
        static_cast<size_t>(options.max_overlap_share * static_cast<double>(options.chunk_tokens));
  }

  std::vector<Chunk> run() {
    const std::vector<TextBlock>& blocks = document_.blocks;
    for (size_t first = 0; first < blocks.size();) {
      size_t last = first + 1;
      while (last < blocks.size() && blocks[last].heading_path == blocks[first].heading_path &&
             blocks[last].page == blocks[first].page) {
        ++last;
      }
      std::vector<Unit> units;
      for (size_t b = first; b < last; ++b) add_block_units(blocks[b], units);
      pack_section(units, blocks[first]);
      first = last;
    }
    return std::move(chunks_);
  }

 private:
  size_t count(size_t begin, size_t end) const { return count_(text_.substr(begin, end - begin)); }

  // Shrinks [begin, end) to exclude edge whitespace.
  void trim(size_t& begin, size_t& end) const {
    while (begin < end && is_space(text_[begin])) ++begin;
    while (end > begin && is_space(text_[end - 1])) --end;
  }

  void add_block_units(const TextBlock& block, std::vector<Unit>& units) {
    const std::string_view block_text =
        text_.substr(block.text_begin, block.text_end - block.text_begin);
    std::vector<size_t> bounds;
    if (block.preformatted) {
      bounds.push_back(0);
      for (size_t i = 0; i < block_text.size(); ++i) {
        if (block_text[i] == '\n') bounds.push_back(i + 1);
      }
      bounds.push_back(block_text.size());
    } else {
      // ICU ends a sentence at every newline; hard-wrapped prose must not lose its sentences.
      scratch_.assign(block_text);
      std::replace(scratch_.begin(), scratch_.end(), '\n', ' ');
      std::replace(scratch_.begin(), scratch_.end(), '\r', ' ');
      bounds = segmenter_.sentence_boundaries(scratch_);
    }
    for (size_t i = 0; i + 1 < bounds.size(); ++i) {
      size_t begin = block.text_begin + bounds[i], end = block.text_begin + bounds[i + 1];
      trim(begin, end);
      if (begin == end) continue;
      const size_t tokens = count(begin, end);
      if (tokens <= options_.chunk_tokens) {
        units.push_back({begin, end, tokens, true});
      } else {
        split_long(begin, end, /*by_words=*/true, units);
      }
    }
  }

  // Splits [begin, end) (longer than the budget) into the longest pieces that fit, at word
  // boundaries, or at code point boundaries when !by_words or one word alone is too long.
  void split_long(size_t begin, size_t end, bool by_words, std::vector<Unit>& units) {
    std::vector<size_t> bounds;
    const std::string_view piece = text_.substr(begin, end - begin);
    if (by_words) {
      bounds = segmenter_.word_boundaries(piece);
    } else {
      for (size_t i = 0; i < piece.size(); ++i) {
        if ((static_cast<unsigned char>(piece[i]) & 0xC0) != 0x80) bounds.push_back(i);
      }
      bounds.push_back(piece.size());
    }
    for (size_t& b : bounds) b += begin;
    size_t at = 0;  // index into bounds of the current piece's start
    while (at + 1 < bounds.size()) {
      size_t start = bounds[at];
      // Skip whitespace-only segments at the start of a piece.
      while (at + 1 < bounds.size()) {
        size_t s = bounds[at], e = bounds[at + 1];
        trim(s, e);
        if (s != e) break;
        ++at;
      }
      if (at + 1 >= bounds.size()) break;
      start = bounds[at];
      // Gallop then bisect for the last boundary index `best` with the piece fitting.
      auto fits = [&](size_t index, size_t& tokens) {
        size_t s = start, e = bounds[index];
        trim(s, e);
        tokens = s == e ? 0 : count(s, e);
        return tokens <= options_.chunk_tokens;
      };
      size_t best = at, best_tokens = 0, step = 1, tokens = 0;
      size_t high = bounds.size();  // first index known not to fit (or past the end)
      while (at + step < bounds.size()) {
        if (!fits(at + step, tokens)) {
          high = at + step;
          break;
        }
        best = at + step;
        best_tokens = tokens;
        step *= 2;
      }
      size_t low = best;  // fits (or == at)
      if (high == bounds.size()) high = bounds.size();
      while (high - low > 1) {
        const size_t mid = low + (high - low) / 2;
        if (fits(mid, tokens)) {
          low = mid;
          best = mid;
          best_tokens = tokens;
        } else {
          high = mid;
        }
      }
      if (best == at) {
        // Not even one segment fits: a word longer than the budget.
        if (by_words) {
          split_long(bounds[at], bounds[at + 1], /*by_words=*/false, units);
        } else {
          // One code point over the budget: only a counter that is no real tokenizer does this;
          // keep it as its own piece rather than lose text.
          units.push_back({bounds[at], bounds[at + 1], count(bounds[at], bounds[at + 1]), false});
        }
        at = at + 1;
        continue;
      }
      size_t s = start, e = bounds[best];
      trim(s, e);
      units.push_back({s, e, best_tokens, false});
      at = best;
    }
  }

  void pack_section(const std::vector<Unit>& units, const TextBlock& first_block) {
    size_t next = 0;           // first unit not yet in any chunk
    size_t overlap_first = 0;  // overlap units are [overlap_first, next)
    while (next < units.size()) {
      // Greedy by the sum of the units' counts (exact for WordPiece between sentences), then
      // checked against the counter on the whole text.
      size_t first = overlap_first;
      size_t sum = 0;
      for (size_t i = first; i < next; ++i) sum += units[i].tokens;
      if (first < next && sum + units[next].tokens > options_.chunk_tokens) {
        first = next;  // the overlap leaves no room for the next sentence: drop it
        sum = 0;
      }
      size_t last = next;  // exclusive end
      while (last < units.size() && sum + units[last].tokens <= options_.chunk_tokens) {
        sum += units[last].tokens;
        ++last;
      }
      if (last == next) last = next + 1;  // a unit alone always fits (split_long saw to it)
      size_t tokens = count(units[first].begin, units[last - 1].end);
      while (tokens > options_.chunk_tokens && (last - next > 1 || first < next)) {
        if (last - next > 1) {
          --last;
        } else {
          first = next;
        }
        tokens = count(units[first].begin, units[last - 1].end);
      }
      emit(units, first, next, last, tokens, first_block);
      // The next chunk's overlap: up to overlap_sentences whole sentences from this chunk's end.
      overlap_first = last;
      size_t overlap_tokens = 0;
      while (overlap_first > first && last - overlap_first < options_.overlap_sentences) {
        const Unit& unit = units[overlap_first - 1];
        if (!unit.whole_sentence || overlap_tokens + unit.tokens > max_overlap_tokens_) break;
        overlap_tokens += unit.tokens;
        --overlap_first;
      }
      next = last;
    }
  }

  void emit(const std::vector<Unit>& units, size_t first, size_t next, size_t last, size_t tokens,
            const TextBlock& block) {
    Chunk chunk;
    chunk.text_begin = units[first].begin;
    chunk.text_end = units[last - 1].end;
    chunk.text = std::string(text_.substr(chunk.text_begin, chunk.text_end - chunk.text_begin));
    chunk.overlap_bytes = first < next ? units[next].begin - units[first].begin : 0;
    chunk.token_count = tokens;
    chunk.sentence_count = last - first;
    chunk.heading_path = block.heading_path;
    chunk.page = block.page;
    if (document_.positions == PositionSpace::kExtractedText) {
      chunk.byte_begin = chunk.text_begin;
      chunk.byte_end = chunk.text_end;
    } else {
      chunk.byte_begin = document_.source_map.source_begin(chunk.text_begin);
      chunk.byte_end = std::max(chunk.byte_begin, document_.source_map.source_end(chunk.text_end));
    }
    chunk.line_begin = document_.line_at(chunk.byte_begin);
    chunk.line_end = document_.line_at(chunk.byte_end > chunk.byte_begin ? chunk.byte_end - 1
                                                                         : chunk.byte_begin);
    chunks_.push_back(std::move(chunk));
  }

  const LoadedDocument& document_;
  const std::string_view text_;
  const TokenCounter& count_;
  const ChunkOptions& options_;
  const TextSegmenter& segmenter_;
  size_t max_overlap_tokens_ = 0;
  std::string scratch_;
  std::vector<Chunk> chunks_;
};

}  // namespace

Result<std::vector<Chunk>> chunk_document(const LoadedDocument& document,
                                          const TokenCounter& count_tokens,
                                          const ChunkOptions& options) {
  if (options.chunk_tokens == 0) {
    return Status::invalid_argument("chunk_tokens must be at least 1");
  }
  if (options.chunk_tokens > options.max_tokens) {
    return Status::invalid_argument(
        "chunk_tokens " + std::to_string(options.chunk_tokens) + " is above the model's limit of " +
        std::to_string(options.max_tokens) +
        " tokens (max_seq_length minus special tokens); chunks would be cut");
  }
  if (!(options.max_overlap_share >= 0.0 && options.max_overlap_share < 1.0)) {
    return Status::invalid_argument("max_overlap_share must be in [0, 1)");
  }
  if (!count_tokens) return Status::invalid_argument("no token counter");
  RAGKIT_ASSIGN_OR_RETURN(TextSegmenter segmenter, TextSegmenter::create());
  Chunker chunker(document, count_tokens, options, segmenter);
  return chunker.run();
}

}  // namespace ragkit::retrieval
