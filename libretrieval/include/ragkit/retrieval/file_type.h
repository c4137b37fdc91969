// File types: which loader reads a file, decided from its name and its first bytes.
//
// The name decides the format (".md" is Markdown, ".html" HTML, ".py" source code, ...); the
// content decides whether there is text at all. A file is binary when its first 8 KiB hold a NUL
// byte or more than 10% bytes that no text has (C0 controls other than tab, newline, carriage
// return, form feed, vertical tab, backspace and escape; DEL; bytes that are not valid UTF-8 count
// half, so Latin-1 prose still passes). PDF is recognised by its "%PDF-" magic within the first
// 1024 bytes, whatever the name, and is never "binary". UTF-16/32 text (a BOM, then NUL bytes) is
// reported as such rather than as binary.
//
// Why not libmagic: it answers with MIME types we would still have to map to loaders, loads a
// multi-megabyte database per process, its handle is not thread-safe, and for the one question it
// would answer better than this file (is this text?) its heuristics are the same NUL / control
// byte counts.
//
// Thread-safety: free functions over values.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ragkit::retrieval {

enum class FileType {
  kUnknown,   // not a format ragkit reads (an image, an archive, an unknown extension)
  kText,      // plain text: .txt, .rst, .csv, .json, a README without extension, ...
  kCode,      // source code: .cpp, .py, .go, ... (loaded as text; lines are its sentences)
  kMarkdown,  // .md, .markdown
  kHtml,      // .html, .htm, .xhtml
  kPdf,       // .pdf or the %PDF- magic
};

// "txt", "code", "md", "html", "pdf", "unknown": the name stored with each document.
const char* file_type_name(FileType type);

// The type the name's extension implies (case-insensitive); files without an extension whose
// names are conventional text files (README, LICENSE, Makefile, Dockerfile, ...) are kText;
// kUnknown otherwise.
FileType file_type_from_name(std::string_view file_name);

// The bytes to sniff: the first kSniffBytes of a file.
inline constexpr size_t kSniffBytes = 8192;

struct ContentCheck {
  bool is_pdf = false;     // "%PDF-" in the first 1024 bytes
  bool is_binary = false;  // see the header comment; never with is_pdf
  std::string reason;      // why binary: "binary: NUL byte at offset 12", ...
};

// Classifies `head`, the first bytes of a file (at most kSniffBytes are looked at).
ContentCheck check_content(std::span<const uint8_t> head);

}  // namespace ragkit::retrieval
