// The loaders on small hand-written inputs: text, title, headings, blocks, and that positions
// point at the right bytes of the original. The PDFs are written by hand here (objects, a content
// stream per page, an xref table with offsets computed in code).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ragkit/common/utf8.h"
#include "ragkit/retrieval/document_loader.h"

namespace ragkit::retrieval {
namespace {

// The source bytes of text [begin, end) of `doc`.
std::string source_of(const LoadedDocument& doc, const std::string& original, size_t begin,
                      size_t end) {
  const uint64_t b = doc.source_map.source_begin(begin);
  const uint64_t e = doc.source_map.source_end(end);
  return original.substr(b, e - b);
}

// Where `needle` is in the loaded text mapped back: the original bytes it came from.
std::string source_of_word(const LoadedDocument& doc, const std::string& original,
                           const std::string& needle) {
  const size_t at = doc.text.find(needle);
  if (at == std::string::npos) return "<not in text>";
  return source_of(doc, original, at, at + needle.size());
}

std::vector<std::string> block_texts(const LoadedDocument& doc) {
  std::vector<std::string> out;
  for (const TextBlock& b : doc.blocks)
    out.push_back(doc.text.substr(b.text_begin, b.text_end - b.text_begin));
  return out;
}

TEST(IngestTextLoader, ParagraphsCrlfAndLines) {
  const std::string file = "First line.\r\nSecond line.\r\n\r\n\r\n  Para two.\r\n";
  auto doc = load_document_from_memory(file, FileType::kText, "t.txt");
  ASSERT_TRUE(doc.ok()) << doc.status().to_string();
  EXPECT_EQ(block_texts(*doc),
            (std::vector<std::string>{"First line.\nSecond line.", "Para two."}));
  EXPECT_TRUE(doc->warnings.empty());
  EXPECT_FALSE(doc->blocks[0].preformatted);
  // "Para two." is on line 5 of the file, at byte 33.
  const size_t at = doc->text.find("Para");
  EXPECT_EQ(doc->source_map.source_begin(at), 33u);
  EXPECT_EQ(doc->line_at(doc->source_map.source_begin(at)), 5u);
  EXPECT_EQ(source_of_word(*doc, file, "Second line."), "Second line.");
  // The "\n" stands for the file's "\r\n".
  const size_t newline = doc->text.find('\n');
  EXPECT_EQ(source_of(*doc, file, newline, newline + 1), "\r\n");
}

TEST(IngestTextLoader, BomAndInvalidUtf8AreRepaired) {
  const std::string file =
      "\xEF\xBB\xBF"
      "ab\xFF"
      "cd \xC3\x28 ok \xE2\x82\xAC";
  auto doc = load_document_from_memory(file, FileType::kCode, "bad.py");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->text,
            "ab\xEF\xBF\xBD"
            "cd \xEF\xBF\xBD( ok \xE2\x82\xAC");
  ASSERT_EQ(doc->warnings.size(), 1u);
  EXPECT_EQ(doc->warnings[0], "invalid UTF-8 at byte 5 (2 bytes replaced with U+FFFD)");
  EXPECT_TRUE(doc->blocks[0].preformatted);
  EXPECT_EQ(doc->source_map.source_begin(0), 3u);  // past the BOM
  EXPECT_EQ(source_of(*doc, file, 2, 5), "\xFF");  // U+FFFD stands for the bad byte
  EXPECT_EQ(source_of_word(*doc, file, "cd"), "cd");
  EXPECT_EQ(source_of_word(*doc, file, "ok \xE2\x82\xAC"), "ok \xE2\x82\xAC");
}

TEST(IngestMarkdownLoader, MarkupStrippedHeadingsKept) {
  const std::string file =
      "# Install\n"
      "\n"
      "Some *emphasis* and a [link](http://example.org/x) here,\n"
      "wrapped.\n"
      "\n"
      "## Linux\n"
      "\n"
      "Run `make` &amp; wait. ![a diagram](img.png)\n"
      "\n"
      "<div>dropped html</div>\n"
      "\n"
      "```\n"
      "int x;\n"
      "int y;\n"
      "```\n"
      "\n"
      "- item one\n"
      "- item two\n"
      "\n"
      "# Usage\n"
      "\n"
      "Plain.\n";
  auto doc = load_document_from_memory(file, FileType::kMarkdown, "r.md");
  ASSERT_TRUE(doc.ok()) << doc.status().to_string();
  EXPECT_EQ(doc->title, "Install");
  const std::vector<std::string> expected_text = {
      "Install",        "Some emphasis and a link here, wrapped.",
      "Linux",          "Run make & wait. a diagram",
      "int x;\nint y;", "item one",
      "item two",       "Usage",
      "Plain."};
  EXPECT_EQ(block_texts(*doc), expected_text);
  const std::vector<std::string> expected_paths = {
      "Install",         "Install",         "Install > Linux",
      "Install > Linux", "Install > Linux", "Install > Linux",
      "Install > Linux", "Usage",           "Usage"};
  ASSERT_EQ(doc->blocks.size(), expected_paths.size());
  for (size_t i = 0; i < expected_paths.size(); ++i) {
    EXPECT_EQ(doc->blocks[i].heading_path, expected_paths[i]) << i;
  }
  EXPECT_TRUE(doc->blocks[4].preformatted);
  EXPECT_EQ(doc->text.find("http"), std::string::npos);
  EXPECT_EQ(doc->text.find("dropped"), std::string::npos);
  // Positions: words map to their own bytes; lines follow.
  EXPECT_EQ(source_of_word(*doc, file, "emphasis"), "emphasis");
  EXPECT_EQ(source_of_word(*doc, file, "wait."), "wait.");
  EXPECT_EQ(source_of_word(*doc, file, "int y;"), "int y;");
  const size_t plain = doc->text.find("Plain.");
  EXPECT_EQ(doc->line_at(doc->source_map.source_begin(plain)), 22u);
  const size_t item = doc->text.find("item two");
  EXPECT_EQ(doc->line_at(doc->source_map.source_begin(item)), 18u);
  // The entity: "&" maps into "&amp;".
  const std::string amp = source_of_word(*doc, file, "&");
  EXPECT_EQ(file.find(amp), file.find("&amp;")) << amp;
}

// Found by html_loader_fuzz: gumbo 0.10 turns an overflowing numeric character reference into
// ill-formed UTF-8 (a lone continuation byte), in the text and in the title alike.
TEST(IngestHtmlLoader, OverflowingCharacterReferencesStayValidUtf8) {
  const std::string file =
      "<title>t &#6666666666666666666666666666666666x5</title>"
      "<p>a &#6666666666666666666666666666666666x5 b</p>";
  auto doc = load_document_from_memory(file, FileType::kHtml, "bad.html");
  ASSERT_TRUE(doc.ok()) << doc.status().to_string();
  EXPECT_TRUE(is_valid_utf8(doc->text));
  EXPECT_TRUE(is_valid_utf8(doc->title));
  EXPECT_NE(doc->text.find("a "), std::string::npos);
  EXPECT_NE(doc->text.find(" b"), std::string::npos);
}

TEST(IngestHtmlLoader, ScriptsDroppedEntitiesDecodedTitleKept) {
  const std::string file =
      "<!DOCTYPE html>\n<html><head><title>My &amp; Page</title>\n"
      "<style>p { color: red }</style><script>var x = 1;</script></head>\n"
      "<body><h1>Top</h1>\n"
      "<p>Hello &amp; welcome<br>to <b>the</b>   page.</p>\n"
      "<noscript>enable js</noscript><template><p>tmpl</p></template>\n"
      "<h2>Sub &lt;part&gt;</h2>\n"
      "<ul><li>one</li><li>two</li></ul>\n"
      "<pre>  code\n    indented</pre>\n"
      "<p>Unclosed <i>tags\n"
      "<div>after</div>\n";
  auto doc = load_document_from_memory(file, FileType::kHtml, "p.html");
  ASSERT_TRUE(doc.ok()) << doc.status().to_string();
  EXPECT_EQ(doc->title, "My & Page");
  const std::vector<std::string> expected = {
      "Top", "Hello & welcome",    "to the page.",  "Sub <part>", "one",
      "two", "code\n    indented", "Unclosed tags", "after"};
  EXPECT_EQ(block_texts(*doc), expected);
  for (const char* dropped : {"color", "var x", "enable js", "tmpl", "My & Page"}) {
    EXPECT_EQ(doc->text.find(dropped), std::string::npos) << dropped;
  }
  EXPECT_EQ(doc->blocks[0].heading_path, "Top");
  EXPECT_EQ(doc->blocks[1].heading_path, "Top");
  EXPECT_EQ(doc->blocks[3].heading_path, "Top > Sub <part>");
  EXPECT_EQ(doc->blocks[8].heading_path, "Top > Sub <part>");
  EXPECT_TRUE(doc->blocks[6].preformatted);
  EXPECT_EQ(source_of_word(*doc, file, "welcome"), "welcome");
  EXPECT_EQ(source_of_word(*doc, file, "page."), "page.");
  EXPECT_EQ(source_of_word(*doc, file, "after"), "after");
  const size_t two = doc->text.find("two");
  EXPECT_EQ(doc->line_at(doc->source_map.source_begin(two)), 8u);
}

// A PDF with one page per entry of `pages` (each a content stream), written by hand.
std::string make_pdf(const std::vector<std::string>& pages, const std::string& info = "",
                     const std::string& encrypt = "") {
  std::vector<std::string> objects;  // object i+1
  objects.push_back("<< /Type /Catalog /Pages 2 0 R >>");
  std::string kids;
  const size_t first_page = 4;  // 1 catalog, 2 pages, 3 font, then page/content pairs
  for (size_t i = 0; i < pages.size(); ++i) kids += std::to_string(first_page + 2 * i) + " 0 R ";
  objects.push_back("<< /Type /Pages /Kids [" + kids + "] /Count " + std::to_string(pages.size()) +
                    " >>");
  objects.push_back("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
  for (size_t i = 0; i < pages.size(); ++i) {
    objects.push_back(
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font "
        "<< /F1 3 0 R >> >> /Contents " +
        std::to_string(first_page + 2 * i + 1) + " 0 R >>");
    objects.push_back("<< /Length " + std::to_string(pages[i].size()) + " >>\nstream\n" + pages[i] +
                      "\nendstream");
  }
  std::string trailer_extra;
  if (!info.empty()) {
    objects.push_back(info);
    trailer_extra += " /Info " + std::to_string(objects.size()) + " 0 R";
  }
  if (!encrypt.empty()) {
    objects.push_back(encrypt);
    trailer_extra += " /Encrypt " + std::to_string(objects.size()) +
                     " 0 R /ID [<0123456789abcdef0123456789abcdef> "
                     "<0123456789abcdef0123456789abcdef>]";
  }
  std::string pdf = "%PDF-1.4\n";
  std::vector<size_t> offsets;
  for (size_t i = 0; i < objects.size(); ++i) {
    offsets.push_back(pdf.size());
    pdf += std::to_string(i + 1) + " 0 obj\n" + objects[i] + "\nendobj\n";
  }
  const size_t xref = pdf.size();
  pdf += "xref\n0 " + std::to_string(objects.size() + 1) + "\n0000000000 65535 f \n";
  for (size_t offset : offsets) {
    char line[32];
    std::snprintf(line, sizeof line, "%010zu 00000 n \n", offset);
    pdf += line;
  }
  pdf += "trailer\n<< /Size " + std::to_string(objects.size() + 1) + " /Root 1 0 R" +
         trailer_extra + " >>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
  return pdf;
}

std::string text_page(const std::vector<std::string>& lines) {
  std::string s = "BT /F1 12 Tf 14 TL 72 720 Td";
  for (const std::string& line : lines) s += " (" + line + ") Tj T*";
  return s + " ET";
}

TEST(IngestPdfLoader, TextPerPageWithPageNumbers) {
  const std::string pdf = make_pdf(
      {text_page({"Hello page one.", "Still page one."}), text_page({"Second page text."})},
      "<< /Title (Tiny PDF) >>");
  auto doc = load_document_from_memory(pdf, FileType::kPdf, "t.pdf");
  ASSERT_TRUE(doc.ok()) << doc.status().to_string();
  EXPECT_EQ(doc->title, "Tiny PDF");
  EXPECT_EQ(doc->positions, PositionSpace::kExtractedText);
  EXPECT_TRUE(doc->warnings.empty());
  ASSERT_EQ(doc->blocks.size(), 2u);
  EXPECT_EQ(doc->blocks[0].page, 1u);
  EXPECT_EQ(doc->blocks[1].page, 2u);
  const std::vector<std::string> texts = block_texts(*doc);
  EXPECT_EQ(texts[0], "Hello page one.\nStill page one.");
  EXPECT_EQ(texts[1], "Second page text.");
  // Lines count from each page's top.
  EXPECT_EQ(doc->line_at(doc->text.find("Still")), 2u);
  EXPECT_EQ(doc->line_at(doc->text.find("Second")), 1u);
}

TEST(IngestPdfLoader, NoTextIsAWarning) {
  auto doc = load_document_from_memory(make_pdf({"0 0 m 100 100 l S"}), FileType::kPdf, "s.pdf");
  ASSERT_TRUE(doc.ok()) << doc.status().to_string();
  EXPECT_TRUE(doc->blocks.empty());
  ASSERT_EQ(doc->warnings.size(), 1u);
  EXPECT_NE(doc->warnings[0].find("no extractable text"), std::string::npos);
}

TEST(IngestPdfLoader, EncryptedAndCorruptAreErrors) {
  const std::string encrypt = "<< /Filter /Standard /V 1 /R 2 /P -4 /O <" + std::string(64, 'a') +
                              "> /U <" + std::string(64, 'b') + "> >>";
  auto locked = load_document_from_memory(make_pdf({text_page({"secret"})}, "", encrypt),
                                          FileType::kPdf, "locked.pdf");
  ASSERT_FALSE(locked.ok());
  EXPECT_EQ(locked.status().code(), Status::Code::kNotSupported);
  EXPECT_NE(locked.status().message().find("encrypted"), std::string::npos);

  for (const std::string& bad : {std::string("%PDF-1.4\ngarbage"), std::string(),
                                 make_pdf({text_page({"x"})}).substr(0, 100)}) {
    auto corrupt = load_document_from_memory(bad, FileType::kPdf, "bad.pdf");
    ASSERT_FALSE(corrupt.ok()) << bad.size();
    EXPECT_EQ(corrupt.status().code(), Status::Code::kCorruption);
  }
}

TEST(IngestLoader, ReadsFilesAndRejectsUnknown) {
  auto missing = load_document("/nonexistent/x.txt", FileType::kText);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  auto unknown = load_document_from_memory("x", FileType::kUnknown);
  EXPECT_EQ(unknown.status().code(), Status::Code::kInvalidArgument);
  auto empty = load_document_from_memory("", FileType::kMarkdown);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->blocks.empty());
}

}  // namespace
}  // namespace ragkit::retrieval
