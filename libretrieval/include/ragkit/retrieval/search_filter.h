// SearchFilter: which documents a search may return, by path, file type and modification time.
//
// Every condition that is set must hold (AND); an unset condition admits everything. The
// collection evaluates a filter against its in-memory table of documents (documents are far
// fewer than chunks) and hands the admitted set to FAISS as an id selector, so the index itself
// skips the other chunks instead of the search fetching more and dropping them afterwards.
//
// Thread-safety: a plain value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ragkit::retrieval {

struct SearchFilter {
  // The document path starts with this string ("docs/" admits "docs/a.md", "docs/x/b.md").
  std::string path_prefix;  // Default: "" (any)
  // fnmatch(3) pattern over the whole path, without FNM_PATHNAME: `*` and `?` also match '/',
  // so "*.md" admits "docs/a.md". Brackets ("[ab]") work as in the shell.
  std::string path_glob;  // Default: "" (any)
  // The document's file type is one of these (exact, case-sensitive: "md", "pdf").
  std::vector<std::string> file_types;  // Default: empty (any)
  // Modification time in [modified_from_ns, modified_to_ns], both inclusive.
  std::optional<int64_t> modified_from_ns;  // Default: none
  std::optional<int64_t> modified_to_ns;    // Default: none

  bool admits_everything() const {
    return path_prefix.empty() && path_glob.empty() && file_types.empty() &&
           !modified_from_ns && !modified_to_ns;
  }
};

}  // namespace ragkit::retrieval
