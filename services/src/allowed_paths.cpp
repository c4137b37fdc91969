#include "allowed_paths.h"

namespace ragkit::services {
namespace {

namespace fs = std::filesystem;

bool inside(const fs::path& path, const fs::path& root) {
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++p) {
    if (r->empty()) continue;  // the trailing "" of "dir/"
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

}  // namespace

Result<fs::path> resolve_allowed_path(const std::string& path, const std::vector<fs::path>& roots) {
  if (roots.empty()) {
    return Status::not_supported("indexing by path is turned off: start rag serve with "
                                 "--allow-root DIR to allow the folders under DIR");
  }
  for (const auto& part : fs::path(path)) {
    if (part == "..") {
      return Status::invalid_argument(path + ": a path with \"..\" is not accepted; name the "
                                      "file or folder directly");
    }
  }
  std::error_code ec;
  const fs::path absolute = fs::absolute(path, ec);
  if (ec) return Status::invalid_argument(path + ": " + ec.message());
  // weakly_canonical resolves every link of the part that exists, so a link inside a root that
  // points outside resolves outside.
  const fs::path resolved = fs::weakly_canonical(absolute, ec);
  if (ec) return Status::invalid_argument(path + ": " + ec.message());
  bool allowed = false;
  for (const fs::path& root : roots) allowed = allowed || inside(resolved, root);
  if (!allowed) {
    return Status::not_supported(path + " is outside the folders this server may index (" +
                                 "rag serve --allow-root)");
  }
  if (!fs::exists(resolved, ec)) return Status::not_found(path + ": no such file or folder");
  return resolved;
}

Status check_document_name(std::string_view name) {
  if (name.empty()) return Status::invalid_argument("'name' must not be empty");
  if (name.size() > 1024) return Status::invalid_argument("'name' is longer than 1024 bytes");
  if (name.front() == '/') {
    return Status::invalid_argument("'name' must be a relative path such as \"notes/a.md\"");
  }
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '\\') {
      return Status::invalid_argument("'name' must not contain control characters or '\\'");
    }
  }
  size_t start = 0;
  while (start <= name.size()) {
    const size_t end = std::min(name.find('/', start), name.size());
    const std::string_view segment = name.substr(start, end - start);
    if (segment.empty() || segment == "." || segment == "..") {
      return Status::invalid_argument("'name' has an empty, \".\" or \"..\" path segment");
    }
    start = end + 1;
  }
  return Status();
}

}  // namespace ragkit::services
