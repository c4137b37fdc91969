// walk_folder: the documents under a folder, in a deterministic order, with every file it did not
// take reported with the reason.
//
// The walk is depth-first; the entries of each directory are visited in byte order of their
// names, so two walks of the same tree give the same sequence. It
//   - skips hidden entries (names starting with '.') unless WalkOptions::include_hidden;
//   - applies gitignore-style rules (ignore_rules.h): WalkOptions::exclude first (they win, as
//     git's command-line excludes do), then the `.ragignore` of the deepest directory, then those
//     of its parents; a directory that is excluded is never entered;
//   - follows symbolic links (WalkOptions::follow_symlinks): a directory is entered once per
//     (device, inode), so a link cycle, or two links to one directory, never repeats it; a link
//     out of the root is followed like any other (its files keep the link's path); a dangling
//     link is reported unreadable;
//   - reports files larger than WalkOptions::max_file_bytes, binary files (file_type.h says
//     why), files of a type no loader reads, and entries it cannot stat, open or list;
//   - never stops because of one bad entry: only an unusable root is an error.
// Files reached through two paths (hard links, a link to a file) are reported under each path.
//
// Memory: walk_folder with a visitor holds only the directories on the current path and their
// sorted entry names, plus the (device, inode) of every directory entered; the collecting
// overload also holds the whole result.
//
// Thread-safety: free functions; the visitor is called on the calling thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ragkit/common/status.h"
#include "ragkit/retrieval/file_type.h"

namespace ragkit::retrieval {

struct WalkOptions {
  // Extra gitignore-style patterns relative to the root (`--exclude`); they take precedence over
  // every .ragignore file.
  std::vector<std::string> exclude;  // Default: none
  // Files larger than this are reported (kTooLarge) and not loaded.
  uint64_t max_file_bytes = uint64_t{32} << 20;  // Default: 32 MiB
  // Name of the ignore files read in every directory; "" reads none.
  std::string ignore_file_name = ".ragignore";  // Default: ".ragignore"
  bool include_hidden = false;                  // Default: false (skip names starting with '.')
  bool follow_symlinks = true;                  // Default: true (false: links are skipped silently)
  // Report files whose type no loader reads (kUnsupportedType); false drops them silently.
  bool report_unsupported = true;  // Default: true
};

// A file the walk found and a loader can read.
struct FoundFile {
  std::string relative_path;  // from the root, '/' separators: "docs/install.md"
  std::string absolute_path;  // the path to open (through links, as the walk reached it)
  uint64_t size_bytes = 0;
  int64_t mtime_ns = 0;  // modification time, nanoseconds since the Unix epoch
  FileType type = FileType::kUnknown;
};

enum class SkipReason {
  kTooLarge,         // over WalkOptions::max_file_bytes
  kBinary,           // content says binary (detail: "binary: NUL byte at offset 12")
  kUnsupportedType,  // an extension no loader reads
  kUnreadable,       // stat, open, read or list failed (detail: the system's reason)
  kAlreadyVisited,   // a directory already entered through another path (a link cycle, ...)
  kNotRegular,       // a FIFO, socket or device: never opened, reading it could block
};
const char* skip_reason_name(SkipReason reason);

struct SkippedEntry {
  std::string relative_path;
  SkipReason reason = SkipReason::kUnreadable;
  std::string detail;  // for a person: "41943040 bytes, over the 33554432-byte limit"
};

// Receives the walk's findings in walk order.
class WalkVisitor {
 public:
  virtual ~WalkVisitor() = default;
  virtual void on_file(const FoundFile& file) = 0;
  virtual void on_skipped(const SkippedEntry& entry) = 0;
};

struct WalkStats {
  uint64_t files = 0;        // on_file calls
  uint64_t skipped = 0;      // on_skipped calls
  uint64_t excluded = 0;     // entries dropped by rules or as hidden (not reported one by one)
  uint64_t directories = 0;  // directories entered, the root included
};

// Walks `root` (a directory; a link to one is followed). Errors only when the root itself cannot
// be listed.
Result<WalkStats> walk_folder(const std::string& root, const WalkOptions& options,
                              WalkVisitor& visitor);

struct WalkResult {
  std::vector<FoundFile> files;
  std::vector<SkippedEntry> skipped;
  WalkStats stats;
};

// The collecting form: every finding in walk order.
Result<WalkResult> walk_folder(const std::string& root, const WalkOptions& options = {});

}  // namespace ragkit::retrieval
