// PDF through poppler-cpp: the text of each page in reading order (poppler's
// non_raw_non_physical_layout, what pdftotext gives by default; the physical layout interleaves
// the lines of two columns). PDF text has no byte positions in the file, so positions are offsets
// into the extracted text (PositionSpace::kExtractedText) and lines count from each page's top.
#include <poppler/cpp/poppler-document.h>
#include <poppler/cpp/poppler-global.h>
#include <poppler/cpp/poppler-page.h>

#include <climits>
#include <memory>
#include <mutex>
#include <new>
#include <string>

#include "ingest/loaders.h"

namespace ragkit::retrieval::ingest {
namespace {

// poppler prints every syntax error of a damaged file to stderr; the loader reports its own.
void silence_poppler(const std::string&, void*) {}

std::string to_utf8(const poppler::ustring& text) {
  const poppler::byte_array bytes = text.to_utf8();
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace

Status load_pdf(std::string_view bytes, std::string_view name, LoadedDocument& document) {
  static std::once_flag once;
  std::call_once(once, [] { poppler::set_debug_error_function(silence_poppler, nullptr); });
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return Status::not_supported(std::string(name) + ": PDF larger than 2 GiB");
  }
  try {
    std::unique_ptr<poppler::document> pdf(
        poppler::document::load_from_raw_data(bytes.data(), static_cast<int>(bytes.size())));
    if (!pdf) {
      return Status::corruption(std::string(name) +
                                ": not a readable PDF (damaged, truncated or not a PDF at all)");
    }
    if (pdf->is_locked()) {
      return Status::not_supported(std::string(name) +
                                   ": the PDF is encrypted with a password; decrypt it first "
                                   "(qpdf --decrypt in.pdf out.pdf)");
    }
    document.positions = PositionSpace::kExtractedText;
    document.title = to_utf8(pdf->get_title());
    DocumentBuilder builder(document, nullptr);
    const int pages = pdf->pages();
    if (pages <= 0) {
      return Status::corruption(std::string(name) + ": the PDF has no pages (damaged?)");
    }
    int empty_pages = 0;
    for (int index = 0; index < pages; ++index) {
      std::unique_ptr<poppler::page> page(pdf->create_page(index));
      std::string page_text;
      if (page) {
        page_text =
            to_utf8(page->text(poppler::rectf(), poppler::page::non_raw_non_physical_layout));
      }
      // poppler's UTF-8 is valid, but a broken font map can give lone surrogates: repair anyway.
      DecodedText decoded = decode_utf8(page_text);
      if (!decoded.warnings.empty()) {
        document.warnings.push_back("page " + std::to_string(index + 1) + ": " +
                                    decoded.warnings.front());
      }
      const uint32_t page_number = static_cast<uint32_t>(index + 1);
      // Paragraphs: blank lines if poppler gives any; a form feed ends the page.
      bool has_text = false;
      const std::string_view text = decoded.text;
      for (size_t pos = 0; pos < text.size();) {
        size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(pos, end - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (!line.empty() && line.back() == '\f') line.remove_suffix(1);
        const bool blank = line.find_first_not_of(" \t\f\v") == std::string_view::npos;
        if (blank) {
          builder.end_block();
        } else {
          if (!builder.block_open()) {
            builder.begin_block("", page_number, false);
            // The page's first line: line numbers of a PDF count from here.
            if (!has_text) document.page_starts.push_back(document.text.size());
          }
          has_text = true;
          builder.append_unmapped(line);
          builder.append_unmapped("\n");
        }
        pos = end + 1;
      }
      builder.end_block();
      if (!has_text) ++empty_pages;
    }
    if (pages > 0 && empty_pages == pages) {
      document.warnings.push_back("no extractable text in " + std::to_string(pages) +
                                  (pages == 1 ? " page" : " pages") +
                                  "; a scanned PDF needs OCR first");
    } else if (empty_pages > 0) {
      document.warnings.push_back(std::to_string(empty_pages) + " of " + std::to_string(pages) +
                                  " pages have no extractable text (scanned?)");
    }
    document.source_map.spans.clear();  // positions are offsets into the text itself
    document.line_starts = compute_line_starts(document.text);
    return Status::ok_status();
  } catch (const std::bad_alloc&) {
    return Status::out_of_range(std::string(name) + ": out of memory reading the PDF");
  } catch (const std::exception& e) {
    return Status::corruption(std::string(name) + ": " + e.what());
  }
}

}  // namespace ragkit::retrieval::ingest
