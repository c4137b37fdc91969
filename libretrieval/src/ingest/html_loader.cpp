// HTML through gumbo (an HTML5-spec parser: any byte sequence gives a tree, as browsers do).
// Every text node knows the source bytes it came from (GumboText::original_text), so positions
// are exact for plain words and cover the entity for decoded ones. The tree is walked with an
// explicit stack: a page of 50,000 nested <div>s must not exhaust ours.
#include <gumbo.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ingest/loaders.h"
#include "ragkit/common/utf8.h"

namespace ragkit::retrieval::ingest {
namespace {

bool is_dropped(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_HEAD:  // <title> is read on its own
    case GUMBO_TAG_SCRIPT:
    case GUMBO_TAG_STYLE:
    case GUMBO_TAG_NOSCRIPT:
    case GUMBO_TAG_TEMPLATE:
    case GUMBO_TAG_IFRAME:
    case GUMBO_TAG_OBJECT:
    case GUMBO_TAG_SVG:
    case GUMBO_TAG_MATH:
    case GUMBO_TAG_SELECT:
    case GUMBO_TAG_TEXTAREA:
      return true;
    default:
      return false;
  }
}

// Elements after which text starts a new block (paragraph break).
bool is_block(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_P:
    case GUMBO_TAG_DIV:
    case GUMBO_TAG_SECTION:
    case GUMBO_TAG_ARTICLE:
    case GUMBO_TAG_HEADER:
    case GUMBO_TAG_FOOTER:
    case GUMBO_TAG_NAV:
    case GUMBO_TAG_ASIDE:
    case GUMBO_TAG_MAIN:
    case GUMBO_TAG_LI:
    case GUMBO_TAG_UL:
    case GUMBO_TAG_OL:
    case GUMBO_TAG_DL:
    case GUMBO_TAG_DT:
    case GUMBO_TAG_DD:
    case GUMBO_TAG_BLOCKQUOTE:
    case GUMBO_TAG_PRE:
    case GUMBO_TAG_TABLE:
    case GUMBO_TAG_TR:
    case GUMBO_TAG_TD:
    case GUMBO_TAG_TH:
    case GUMBO_TAG_CAPTION:
    case GUMBO_TAG_FIGURE:
    case GUMBO_TAG_FIGCAPTION:
    case GUMBO_TAG_FORM:
    case GUMBO_TAG_FIELDSET:
    case GUMBO_TAG_ADDRESS:
    case GUMBO_TAG_HR:
    case GUMBO_TAG_BR:
    case GUMBO_TAG_BODY:
    case GUMBO_TAG_H1:
    case GUMBO_TAG_H2:
    case GUMBO_TAG_H3:
    case GUMBO_TAG_H4:
    case GUMBO_TAG_H5:
    case GUMBO_TAG_H6:
    case GUMBO_TAG_DETAILS:
    case GUMBO_TAG_SUMMARY:
    case GUMBO_TAG_LEGEND:
      return true;
    default:
      return false;
  }
}

int heading_level(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_H1:
      return 1;
    case GUMBO_TAG_H2:
      return 2;
    case GUMBO_TAG_H3:
      return 3;
    case GUMBO_TAG_H4:
      return 4;
    case GUMBO_TAG_H5:
      return 5;
    case GUMBO_TAG_H6:
      return 6;
    default:
      return 0;
  }
}

struct OutputDeleter {
  void operator()(GumboOutput* output) const {
    gumbo_destroy_output(&kGumboDefaultOptions, output);
  }
};

class HtmlLoader {
 public:
  HtmlLoader(const DecodedText& decoded, LoadedDocument& document)
      : source_(decoded.text), builder_(document, &decoded.map), document_(document) {}

  Status run() {
    GumboOptions options = kGumboDefaultOptions;
    options.max_errors = 100;  // errors are not used; keep a broken page from filling memory
    std::unique_ptr<GumboOutput, OutputDeleter> output(
        gumbo_parse_with_options(&options, source_.data(), source_.size()));
    if (!output || !output->root) return Status::corruption("gumbo could not parse the HTML");
    walk(output->root);
    builder_.end_block();
    if (document_.title.empty()) document_.title = first_heading_;
    return Status::ok_status();
  }

 private:
  // Source range of a text node's original bytes, [begin, end) of the decoded text.
  std::pair<size_t, size_t> source_range(const GumboText& text) const {
    const char* data = text.original_text.data;
    if (data == nullptr || data < source_.data() || data > source_.data() + source_.size()) {
      return {cursor_hint_, cursor_hint_};
    }
    const size_t begin = static_cast<size_t>(data - source_.data());
    return {begin, std::min(source_.size(), begin + text.original_text.length)};
  }

  std::string heading_path() const {
    std::string path;
    for (const auto& [level, text] : headings_) {
      if (!path.empty()) path += " > ";
      path += text;
    }
    return path;
  }

  void ensure_block() {
    if (!builder_.block_open()) builder_.begin_block(heading_path(), 0, pre_depth_ > 0);
  }

  void on_text(const GumboNode* node) {
    const GumboText& text = node->v.text;
    std::string_view decoded = text.text != nullptr ? text.text : "";
    // gumbo 0.10 emits ill-formed UTF-8 for an overflowing numeric character reference
    // ("&#6666666666666666x5"); the loaded text must stay valid UTF-8.
    std::string repaired;
    if (!is_valid_utf8(decoded)) {
      repaired = repair_utf8(decoded);
      decoded = repaired;
    }
    if (title_depth_ > 0) {
      title_ += decoded;
      return;
    }
    const auto [begin, end] = source_range(text);
    cursor_hint_ = end;
    if (pre_depth_ == 0) {
      if (decoded.find_first_not_of(" \t\n\r\f") == std::string_view::npos &&
          !builder_.block_open()) {
        return;  // whitespace between blocks
      }
      ensure_block();
      builder_.set_cursor(begin);
      builder_.append_words(decoded, source_, begin, end);
      return;
    }
    // Inside <pre> the text is kept as it is; verbatim text maps byte for byte, text with
    // entities or CRLF maps to its whole source range.
    ensure_block();
    builder_.append(decoded, begin, end);
  }

  void enter(const GumboNode* node) {
    const GumboTag tag = node->v.element.tag;
    if (tag == GUMBO_TAG_TITLE) ++title_depth_;
    if (is_block(tag)) builder_.end_block();
    if (tag == GUMBO_TAG_PRE) ++pre_depth_;
    if (heading_level(tag) > 0) {
      builder_.begin_block(heading_path(), 0, false);
    }
  }

  void exit(const GumboNode* node) {
    const GumboTag tag = node->v.element.tag;
    if (tag == GUMBO_TAG_TITLE) --title_depth_;
    if (tag == GUMBO_TAG_PRE) --pre_depth_;
    const int level = heading_level(tag);
    if (level > 0 && builder_.block_open()) {
      std::string text(builder_.open_block_text());
      while (!text.empty() && (text.back() == ' ' || text.back() == '\n')) text.pop_back();
      while (!headings_.empty() && headings_.back().first >= level) headings_.pop_back();
      if (!text.empty()) {
        headings_.emplace_back(level, text);
        if (first_heading_.empty()) first_heading_ = text;
      }
      builder_.set_open_block_heading(heading_path());
    }
    if (is_block(tag)) builder_.end_block();
  }

  void walk(const GumboNode* root) {
    // (node, index of the next child to visit)
    std::vector<std::pair<const GumboNode*, unsigned>> stack;
    stack.emplace_back(root, 0);
    find_title(root);
    enter(root);
    while (!stack.empty()) {
      auto& [node, next_child] = stack.back();
      const GumboVector& children = node->v.element.children;
      if (next_child >= children.length) {
        exit(node);
        stack.pop_back();
        continue;
      }
      const auto* child = static_cast<const GumboNode*>(children.data[next_child++]);
      switch (child->type) {
        case GUMBO_NODE_ELEMENT:
        case GUMBO_NODE_TEMPLATE:
          if (is_dropped(child->v.element.tag)) break;
          enter(child);
          stack.emplace_back(child, 0);
          break;
        case GUMBO_NODE_TEXT:
        case GUMBO_NODE_WHITESPACE:
        case GUMBO_NODE_CDATA:
          on_text(child);
          break;
        default:  // comments, the document node
          break;
      }
    }
  }

  // The first <title> anywhere (gumbo moves it into <head>, which the walk drops).
  void find_title(const GumboNode* root) {
    std::vector<const GumboNode*> stack = {root};
    while (!stack.empty()) {
      const GumboNode* node = stack.back();
      stack.pop_back();
      if (node->type != GUMBO_NODE_ELEMENT) continue;
      if (node->v.element.tag == GUMBO_TAG_TITLE) {
        std::string title;
        const GumboVector& children = node->v.element.children;
        for (unsigned i = 0; i < children.length; ++i) {
          const auto* child = static_cast<const GumboNode*>(children.data[i]);
          if (child->type == GUMBO_NODE_TEXT || child->type == GUMBO_NODE_WHITESPACE) {
            title += child->v.text.text;
          }
        }
        // Collapse whitespace.
        std::string collapsed;
        for (char c : title) {
          const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
          if (space) {
            if (!collapsed.empty() && collapsed.back() != ' ') collapsed += ' ';
          } else {
            collapsed += c;
          }
        }
        while (!collapsed.empty() && collapsed.back() == ' ') collapsed.pop_back();
        document_.title = is_valid_utf8(collapsed) ? collapsed : repair_utf8(collapsed);
        return;
      }
      const GumboVector& children = node->v.element.children;
      for (unsigned i = children.length; i > 0; --i) {
        stack.push_back(static_cast<const GumboNode*>(children.data[i - 1]));
      }
    }
  }

  const std::string_view source_;
  DocumentBuilder builder_;
  LoadedDocument& document_;
  std::vector<std::pair<int, std::string>> headings_;
  std::string first_heading_;
  std::string title_;
  int title_depth_ = 0;
  int pre_depth_ = 0;
  size_t cursor_hint_ = 0;
};

}  // namespace

Status load_html(const DecodedText& decoded, LoadedDocument& document) {
  HtmlLoader loader(decoded, document);
  return loader.run();
}

}  // namespace ragkit::retrieval::ingest
