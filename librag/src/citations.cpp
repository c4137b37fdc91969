#include "ragkit/rag/citations.h"

#include <algorithm>
#include <cctype>

namespace ragkit::rag {

namespace {

// Parses an unsigned number at text[i]; false when there is none (or it is absurdly long).
bool parse_number(std::string_view text, size_t& i, size_t& value) {
  const size_t start = i;
  value = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) && i - start < 9) {
    value = value * 10 + static_cast<size_t>(text[i] - '0');
    ++i;
  }
  return i > start && (i >= text.size() || !std::isdigit(static_cast<unsigned char>(text[i])));
}

void skip_spaces(std::string_view text, size_t& i) {
  while (i < text.size() && text[i] == ' ') ++i;
}

}  // namespace

std::vector<size_t> find_citations(std::string_view answer, size_t n_sources) {
  std::vector<size_t> cited;
  for (size_t open = answer.find('['); open != std::string_view::npos;
       open = answer.find('[', open + 1)) {
    size_t i = open + 1;
    skip_spaces(answer, i);
    // "[Source 2]", "[source 2]"
    for (std::string_view word : {"Source", "source"}) {
      if (answer.substr(i, word.size()) == word) {
        i += word.size();
        skip_spaces(answer, i);
        break;
      }
    }
    std::vector<size_t> group;
    bool valid = true;
    while (true) {
      size_t first = 0;
      if (!parse_number(answer, i, first)) {
        valid = false;
        break;
      }
      size_t last = first;
      skip_spaces(answer, i);
      if (i < answer.size() && (answer[i] == '-' || answer[i] == '\xe2')) {
        // "1-3" or "1–3" (en dash, UTF-8 e2 80 93)
        if (answer[i] == '-') {
          ++i;
        } else if (answer.substr(i, 3) == "\xe2\x80\x93") {
          i += 3;
        } else {
          valid = false;
          break;
        }
        skip_spaces(answer, i);
        if (!parse_number(answer, i, last) || last < first || last - first > 100) {
          valid = false;
          break;
        }
        skip_spaces(answer, i);
      }
      for (size_t n = first; n <= last; ++n) group.push_back(n);
      if (i < answer.size() && answer[i] == ',') {
        ++i;
        skip_spaces(answer, i);
        continue;
      }
      break;
    }
    if (!valid || i >= answer.size() || answer[i] != ']') continue;
    // Every number must name a source, or the bracket is not a citation ("[2024]").
    if (std::all_of(group.begin(), group.end(),
                    [&](size_t n) { return n >= 1 && n <= n_sources; })) {
      cited.insert(cited.end(), group.begin(), group.end());
    }
  }
  std::sort(cited.begin(), cited.end());
  cited.erase(std::unique(cited.begin(), cited.end()), cited.end());
  return cited;
}

}  // namespace ragkit::rag
