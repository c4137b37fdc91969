#include "ragkit/retrieval/document_loader.h"

#include "ingest/loaders.h"
#include "ragkit/common/mapped_file.h"

namespace ragkit::retrieval {

Result<LoadedDocument> load_document_from_memory(std::string_view bytes, FileType type,
                                                 std::string_view name) {
  LoadedDocument document;
  if (type == FileType::kPdf) {
    RAGKIT_RETURN_IF_ERROR(ingest::load_pdf(bytes, name, document));
    return document;
  }
  if (type == FileType::kUnknown) {
    return Status::invalid_argument(std::string(name) + ": no loader for this file type");
  }
  ingest::DecodedText decoded = ingest::decode_utf8(bytes);
  document.warnings = decoded.warnings;
  switch (type) {
    case FileType::kText:
    case FileType::kCode:
      ingest::load_plain_text(decoded, type == FileType::kCode, document);
      break;
    case FileType::kMarkdown:
      RAGKIT_RETURN_IF_ERROR(ingest::load_markdown(decoded, document).with_context(name));
      break;
    case FileType::kHtml:
      RAGKIT_RETURN_IF_ERROR(ingest::load_html(decoded, document).with_context(name));
      break;
    default:
      break;
  }
  document.positions = PositionSpace::kOriginalFile;
  document.line_starts = compute_line_starts(bytes);
  return document;
}

Result<LoadedDocument> load_document(const std::string& path, FileType type) {
  RAGKIT_ASSIGN_OR_RETURN(MappedFile file, MappedFile::open(path));
  const std::string_view bytes(reinterpret_cast<const char*>(file.data()), file.size());
  return load_document_from_memory(bytes, type, path);
}

}  // namespace ragkit::retrieval
