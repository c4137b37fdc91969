#include "ragkit/retrieval/file_type.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "ragkit/common/utf8.h"

namespace ragkit::retrieval {
namespace {

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

template <size_t N>
bool contains(const std::string_view (&list)[N], std::string_view s) {
  return std::find(std::begin(list), std::end(list), s) != std::end(list);
}

constexpr std::string_view kTextExtensions[] = {
    "txt",  "text", "rst",  "adoc", "asciidoc", "org",  "tex", "csv", "tsv", "json", "jsonl",
    "yaml", "yml",  "toml", "ini",  "cfg",      "conf", "xml", "log", "srt", "vtt",  "properties"};

constexpr std::string_view kCodeExtensions[] = {
    "c",    "h",   "cc",    "cpp",   "cxx",   "hpp",   "hh",  "hxx",  "inl",  "ipp",
    "cu",   "cuh", "m",     "mm",    "py",    "pyi",   "js",  "mjs",  "cjs",  "jsx",
    "ts",   "tsx", "java",  "kt",    "kts",   "scala", "go",  "rs",   "rb",   "php",
    "pl",   "pm",  "swift", "cs",    "fs",    "vb",    "lua", "r",    "jl",   "dart",
    "ex",   "exs", "erl",   "hs",    "ml",    "mli",   "clj", "sh",   "bash", "zsh",
    "fish", "ps1", "sql",   "proto", "cmake", "mk",    "css", "scss", "vue",  "svelte"};

constexpr std::string_view kTextFileNames[] = {
    "readme",   "license",    "licence",     "copying",        "authors",     "contributors",
    "changes",  "changelog",  "news",        "install",        "todo",        "notice",
    "makefile", "dockerfile", "gnumakefile", "cmakelists.txt", "vagrantfile", "gemfile"};

// Bytes no text has: C0 controls except \b \t \n \v \f \r and ESC (ANSI colours in logs); DEL.
bool is_control_byte(uint8_t b) {
  if (b == 0x7F) return true;
  if (b >= 0x20) return false;
  return !(b == '\b' || b == '\t' || b == '\n' || b == '\v' || b == '\f' || b == '\r' || b == 0x1B);
}

// Length of the valid UTF-8 sequence at s[0] (1-4), or 0 when invalid. A sequence cut by the
// end of the buffer counts as valid: the sniffed head may end inside a character.
size_t sniffed_sequence_length(const uint8_t* s, size_t n) {
  size_t subpart = 0;
  const size_t len = utf8_sequence_length(s, n, &subpart);
  const bool cut = len == 0 && subpart == n && s[0] >= 0xC2 && s[0] <= 0xF4;
  return cut ? n : len;
}

}  // namespace

const char* file_type_name(FileType type) {
  switch (type) {
    case FileType::kText:
      return "txt";
    case FileType::kCode:
      return "code";
    case FileType::kMarkdown:
      return "md";
    case FileType::kHtml:
      return "html";
    case FileType::kPdf:
      return "pdf";
    case FileType::kUnknown:
      break;
  }
  return "unknown";
}

FileType file_type_from_name(std::string_view file_name) {
  const size_t slash = file_name.rfind('/');
  if (slash != std::string_view::npos) file_name.remove_prefix(slash + 1);
  const std::string name = lowercase(file_name);
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos || dot == 0) {
    return contains(kTextFileNames, name) ? FileType::kText : FileType::kUnknown;
  }
  if (contains(kTextFileNames, name)) return FileType::kText;  // CMakeLists.txt
  const std::string_view ext = std::string_view(name).substr(dot + 1);
  if (ext == "md" || ext == "markdown" || ext == "mdown" || ext == "mkd")
    return FileType::kMarkdown;
  if (ext == "html" || ext == "htm" || ext == "xhtml") return FileType::kHtml;
  if (ext == "pdf") return FileType::kPdf;
  if (contains(kTextExtensions, ext)) return FileType::kText;
  if (contains(kCodeExtensions, ext)) return FileType::kCode;
  // README.en, LICENSE.MIT and the like.
  const std::string_view stem = std::string_view(name).substr(0, dot);
  if (contains(kTextFileNames, stem)) return FileType::kText;
  return FileType::kUnknown;
}

ContentCheck check_content(std::span<const uint8_t> head) {
  ContentCheck check;
  const size_t n = std::min(head.size(), kSniffBytes);
  const uint8_t* s = head.data();
  static constexpr char kMagic[] = "%PDF-";
  const size_t magic_window = std::min<size_t>(n, 1024);
  if (magic_window >= 5 &&
      std::search(s, s + magic_window, kMagic, kMagic + 5) != s + magic_window) {
    check.is_pdf = true;
    return check;
  }
  if (n >= 2 && ((s[0] == 0xFF && s[1] == 0xFE) || (s[0] == 0xFE && s[1] == 0xFF))) {
    check.is_binary = true;
    check.reason = "UTF-16 text (byte order mark at offset 0) is not supported; convert to UTF-8";
    return check;
  }
  size_t weight2 = 0;  // twice the count of non-text bytes (invalid UTF-8 counts 1, controls 2)
  for (size_t i = 0; i < n;) {
    if (s[i] == 0) {
      check.is_binary = true;
      check.reason = "binary: NUL byte at offset " + std::to_string(i);
      return check;
    }
    if (is_control_byte(s[i])) {
      weight2 += 2;
      ++i;
      continue;
    }
    const size_t len = sniffed_sequence_length(s + i, n - i);
    if (len == 0) {
      weight2 += 1;
      ++i;
    } else {
      i += len;
    }
  }
  // More than 10% non-text bytes.
  if (n > 0 && weight2 * 10 > n * 2) {
    check.is_binary = true;
    check.reason = "binary: " + std::to_string(weight2 * 50 / n) + "% of the first " +
                   std::to_string(n) + " bytes are not text";
  }
  return check;
}

}  // namespace ragkit::retrieval
