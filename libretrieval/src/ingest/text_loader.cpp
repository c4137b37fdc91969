#include "ingest/loaders.h"

namespace ragkit::retrieval::ingest {

void load_plain_text(const DecodedText& decoded, bool preformatted, LoadedDocument& document) {
  DocumentBuilder builder(document, &decoded.map);
  const std::string_view text = decoded.text;
  size_t pos = 0;
  while (pos < text.size()) {
    // One line: [pos, content_end) and its line end [content_end, next).
    size_t content_end = text.find_first_of("\r\n", pos);
    if (content_end == std::string_view::npos) content_end = text.size();
    size_t next = content_end;
    if (next < text.size())
      next += (text[next] == '\r' && next + 1 < text.size() && text[next + 1] == '\n') ? 2 : 1;
    const std::string_view line = text.substr(pos, content_end - pos);
    const bool blank = line.find_first_not_of(" \t\f\v") == std::string_view::npos;
    if (blank) {
      builder.end_block();  // a blank line ends a paragraph
    } else {
      if (!builder.block_open()) builder.begin_block("", 0, preformatted);
      builder.append(line, pos, content_end);
      // The line end becomes "\n", mapped to the file's "\r\n", "\r" or "\n".
      if (next > content_end) builder.append("\n", content_end, next);
    }
    pos = next;
  }
  builder.end_block();
}

}  // namespace ragkit::retrieval::ingest
