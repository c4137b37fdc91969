// What the service checks before it indexes what a client names: that a path lies inside an
// allowed root, and that an upload's name is an acceptable document key. (The indexing itself
// is libretrieval's index_document.)
//
// Thread-safety: pure functions (of the file system, for resolve_allowed_path).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/retrieval/collection.h"
#include "ragkit/retrieval/file_type.h"
#include "ragkit/retrieval/folder_indexer.h"

namespace ragkit::services {

// `path` resolved through every symbolic link (realpath), when it lies inside one of `roots`
// (canonical folders). kInvalidArgument for a path with a ".." component; kNotSupported when
// it resolves outside every root (a link out of a root included) — the caller answers 403;
// kNotFound when it is inside but does not exist.
Result<std::filesystem::path> resolve_allowed_path(const std::string& path,
                                                   const std::vector<std::filesystem::path>& roots);

// Whether an upload's name is an acceptable document key: relative, '/'-separated, without
// empty, "." or ".." segments, control characters or backslashes, at most 1024 bytes.
Status check_document_name(std::string_view name);

}  // namespace ragkit::services
