// Private: one loader per format, each filling a LoadedDocument from the decoded text of a file
// (document_builder.h). document_loader.cpp picks the loader; see document_loader.h for what each
// keeps and drops.
#pragma once

#include <string_view>

#include "ingest/document_builder.h"
#include "ragkit/common/status.h"
#include "ragkit/retrieval/loaded_document.h"

namespace ragkit::retrieval::ingest {

// Plain text and source code: paragraphs at blank lines; `preformatted` for code.
void load_plain_text(const DecodedText& decoded, bool preformatted, LoadedDocument& document);

// CommonMark through cmark.
Status load_markdown(const DecodedText& decoded, LoadedDocument& document);

// HTML5 through gumbo.
Status load_html(const DecodedText& decoded, LoadedDocument& document);

// PDF through poppler-cpp; `bytes` is the whole file. `name` only appears in messages.
Status load_pdf(std::string_view bytes, std::string_view name, LoadedDocument& document);

}  // namespace ragkit::retrieval::ingest
