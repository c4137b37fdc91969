// load_document: a file -> LoadedDocument (loaded_document.h), by its FileType (file_type.h).
//
//   kText, kCode  the text itself; paragraphs (split at blank lines) are blocks; code blocks are
//                 preformatted (each line a sentence).
//   kMarkdown     parsed by cmark (CommonMark): emphasis and link markup dropped (links and
//                 images keep their text / alt text), code kept as text, raw HTML dropped,
//                 headings become the heading path of the blocks under them. Positions come from
//                 cmark's block source positions, refined by finding each word in the source.
//   kHtml         parsed by gumbo (HTML5): <script>, <style>, <noscript>, <template> and <head>
//                 (but <title>) dropped, block elements end blocks, <h1>-<h6> make the heading
//                 path, entities decoded, whitespace collapsed outside <pre>; <title> is the
//                 title. Positions from gumbo's source offsets of each text node.
//   kPdf          poppler-cpp, one or more blocks per page (page numbers); an encrypted PDF is
//                 kNotSupported, an unparsable one kCorruption; pages without text give a warning.
// Every format: a UTF-8 BOM is stripped, invalid UTF-8 (and NUL) becomes U+FFFD with a warning
// naming the first bad byte's offset, and Windows line ends become "\n" in the text while line
// numbers still count the file's own lines. One bad file is an error for that file only.
//
// Thread-safety: free functions; safe to call concurrently on different files.
#pragma once

#include <string>
#include <string_view>

#include "ragkit/common/status.h"
#include "ragkit/retrieval/file_type.h"
#include "ragkit/retrieval/loaded_document.h"

namespace ragkit::retrieval {

// Reads `path` (through MappedFile) and loads it as `type`. kUnknown is kInvalidArgument.
Result<LoadedDocument> load_document(const std::string& path, FileType type);

// Loads `bytes` as `type`; `name` only appears in messages. What load_document runs after reading
// the file, and what the fuzz targets call.
Result<LoadedDocument> load_document_from_memory(std::string_view bytes, FileType type,
                                                 std::string_view name = "<memory>");

}  // namespace ragkit::retrieval
