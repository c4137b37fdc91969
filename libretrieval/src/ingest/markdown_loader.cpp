// Markdown through cmark. cmark gives each block its source lines; inside them every word of the
// text is found in the source by a forward search (DocumentBuilder::append_words), which places
// plain words exactly and anything cmark rewrote (entities, backslash escapes) within its block.
#include <cmark.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ingest/loaders.h"

namespace ragkit::retrieval::ingest {
namespace {

struct NodeDeleter {
  void operator()(cmark_node* node) const { cmark_node_free(node); }
};
struct IterDeleter {
  void operator()(cmark_iter* iter) const { cmark_iter_free(iter); }
};

class MarkdownLoader {
 public:
  MarkdownLoader(const DecodedText& decoded, LoadedDocument& document)
      : source_(decoded.text),
        builder_(document, &decoded.map),
        document_(document),
        line_starts_(compute_line_starts(decoded.text)) {}

  Status run() {
    std::unique_ptr<cmark_node, NodeDeleter> root(
        cmark_parse_document(source_.data(), source_.size(), CMARK_OPT_DEFAULT));
    if (!root) return Status::corruption("cmark could not parse the Markdown");
    std::unique_ptr<cmark_iter, IterDeleter> iter(cmark_iter_new(root.get()));
    for (cmark_event_type event = cmark_iter_next(iter.get()); event != CMARK_EVENT_DONE;
         event = cmark_iter_next(iter.get())) {
      cmark_node* node = cmark_iter_get_node(iter.get());
      if (event == CMARK_EVENT_ENTER) {
        enter(node);
      } else {
        exit(node);
      }
    }
    builder_.end_block();
    if (document_.title.empty() && !first_heading_.empty()) document_.title = first_heading_;
    return Status::ok_status();
  }

 private:
  // [begin, end) of the source lines of `node`.
  std::pair<size_t, size_t> window(cmark_node* node) const {
    const int start_line = cmark_node_get_start_line(node);
    const int end_line = cmark_node_get_end_line(node);
    if (start_line <= 0 || static_cast<size_t>(start_line) > line_starts_.size()) {
      return {builder_cursor_, source_.size()};
    }
    const size_t begin = line_starts_[start_line - 1];
    size_t end = source_.size();
    if (end_line >= start_line && static_cast<size_t>(end_line) < line_starts_.size()) {
      end = line_starts_[end_line];
    }
    return {begin, std::max(begin, end)};
  }

  std::string heading_path() const {
    std::string path;
    for (const auto& [level, text] : headings_) {
      if (!path.empty()) path += " > ";
      path += text;
    }
    return path;
  }

  void open_block(cmark_node* node, bool preformatted) {
    const auto [begin, end] = window(node);
    window_begin_ = begin;
    window_end_ = end;
    builder_cursor_ = begin;
    builder_.begin_block(heading_path(), 0, preformatted);
    builder_.set_cursor(begin);
  }

  void enter(cmark_node* node) {
    switch (cmark_node_get_type(node)) {
      case CMARK_NODE_PARAGRAPH:
        // A paragraph inside a heading cannot happen; inside a list item or a quote it is a
        // block of its own.
        open_block(node, false);
        break;
      case CMARK_NODE_HEADING:
        open_block(node, false);
        in_heading_ = true;
        break;
      case CMARK_NODE_CODE_BLOCK: {
        open_block(node, true);
        const char* literal = cmark_node_get_literal(node);
        const std::string_view code = literal != nullptr ? literal : "";
        // Line by line, so each line is placed in the source on its own.
        for (size_t start = 0; start < code.size();) {
          size_t end = code.find('\n', start);
          if (end == std::string_view::npos) end = code.size();
          builder_.append_located(code.substr(start, end - start), source_, window_begin_,
                                  window_end_);
          if (end < code.size()) builder_.append_unmapped("\n");
          start = end + 1;
        }
        builder_.end_block();
        break;
      }
      case CMARK_NODE_TEXT:
      case CMARK_NODE_CODE: {
        if (!builder_.block_open()) open_block(node, false);  // defensive: text outside a block
        const char* literal = cmark_node_get_literal(node);
        if (literal != nullptr) builder_.append_words(literal, source_, window_begin_, window_end_);
        break;
      }
      case CMARK_NODE_SOFTBREAK:
      case CMARK_NODE_LINEBREAK:
        if (builder_.block_open()) builder_.append_words(" ", source_, 0, 0);
        break;
      default:
        // Emphasis, links and images: their children carry the text (a link's text, an image's
        // alt text). HTML blocks and inline HTML are dropped. Containers (lists, quotes) only
        // hold blocks.
        break;
    }
  }

  void exit(cmark_node* node) {
    switch (cmark_node_get_type(node)) {
      case CMARK_NODE_PARAGRAPH:
        builder_.end_block();
        break;
      case CMARK_NODE_HEADING: {
        in_heading_ = false;
        const int level = cmark_node_get_heading_level(node);
        std::string text(builder_.open_block_text());
        while (!text.empty() && text.back() == ' ') text.pop_back();
        while (!headings_.empty() && headings_.back().first >= level) headings_.pop_back();
        if (!text.empty()) {
          headings_.emplace_back(level, text);
          if (first_heading_.empty() || (level == 1 && !seen_h1_)) first_heading_ = text;
          if (level == 1) seen_h1_ = true;
        }
        builder_.set_open_block_heading(heading_path());
        builder_.end_block();
        break;
      }
      default:
        break;
    }
  }

  const std::string_view source_;
  DocumentBuilder builder_;
  LoadedDocument& document_;
  const std::vector<uint64_t> line_starts_;
  std::vector<std::pair<int, std::string>> headings_;  // (level, text), outermost first
  std::string first_heading_;
  bool seen_h1_ = false;
  bool in_heading_ = false;
  size_t window_begin_ = 0;
  size_t window_end_ = 0;
  size_t builder_cursor_ = 0;
};

}  // namespace

Status load_markdown(const DecodedText& decoded, LoadedDocument& document) {
  MarkdownLoader loader(decoded, document);
  return loader.run();
}

}  // namespace ragkit::retrieval::ingest
