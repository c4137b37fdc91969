#include "ragkit/retrieval/folder_walker.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <utility>

#include "ragkit/retrieval/ignore_rules.h"

namespace ragkit::retrieval {
namespace {

std::string join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

std::string errno_text(int err) { return std::strerror(err); }

class Walker {
 public:
  Walker(const WalkOptions& options, WalkVisitor& visitor) : options_(options), visitor_(visitor) {
    std::string joined;
    for (const std::string& pattern : options.exclude) joined += pattern + "\n";
    command_line_ = IgnoreRules::parse(joined);
  }

  Status run(const std::string& root) {
    struct stat st {};
    if (::stat(root.c_str(), &st) != 0) {
      const int err = errno;
      if (err == ENOENT) return Status::not_found(root + ": no such folder");
      return Status::io_error(root + ": cannot stat: " + errno_text(err));
    }
    if (!S_ISDIR(st.st_mode)) return Status::invalid_argument(root + ": not a folder");
    visited_dirs_.insert({st.st_dev, st.st_ino});
    std::string root_path = root;
    while (root_path.size() > 1 && root_path.back() == '/') root_path.pop_back();
    return walk_directory(root_path, "", /*is_root=*/true);
  }

  const WalkStats& stats() const { return stats_; }

 private:
  void skip(std::string relative_path, SkipReason reason, std::string detail) {
    ++stats_.skipped;
    visitor_.on_skipped({std::move(relative_path), reason, std::move(detail)});
  }

  // Whether the rules exclude `path`: the command line first, then the deepest ignore file.
  bool excluded(const std::string& path, bool is_dir) const {
    IgnoreRules::Decision decision = command_line_.match(path, is_dir);
    for (auto it = rules_.rbegin(); decision == IgnoreRules::Decision::kNone && it != rules_.rend();
         ++it) {
      decision = it->match(path, is_dir);
    }
    return decision == IgnoreRules::Decision::kExclude;
  }

  // Reads `dir`'s ignore file onto rules_; returns whether one was pushed.
  bool push_ignore_file(const std::string& absolute_dir, const std::string& relative_dir) {
    if (options_.ignore_file_name.empty()) return false;
    const std::string path = absolute_dir + "/" + options_.ignore_file_name;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      skip(join(relative_dir, options_.ignore_file_name), SkipReason::kUnreadable,
           "ignore file cannot be opened: " + errno_text(errno));
      return false;
    }
    std::string text;
    char buffer[4096];
    // An ignore file larger than 1 MiB is not one a person wrote; read only that much.
    while (text.size() < (size_t{1} << 20)) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n <= 0) break;
      text.append(buffer, static_cast<size_t>(n));
    }
    ::close(fd);
    rules_.push_back(IgnoreRules::parse(text, relative_dir));
    return true;
  }

  Status walk_directory(const std::string& absolute_dir, const std::string& relative_dir,
                        bool is_root) {
    DIR* dir = ::opendir(absolute_dir.c_str());
    if (dir == nullptr) {
      const std::string reason = "cannot list folder: " + errno_text(errno);
      if (is_root) return Status::io_error(absolute_dir + ": " + reason);
      skip(relative_dir, SkipReason::kUnreadable, reason);
      return Status::ok_status();
    }
    ++stats_.directories;
    std::vector<std::string> names;
    errno = 0;
    while (const dirent* entry = ::readdir(dir)) {
      const char* name = entry->d_name;
      if (std::strcmp(name, ".") == 0 || std::strcmp(name, "..") == 0) continue;
      names.emplace_back(name);
    }
    const int list_errno = errno;
    ::closedir(dir);
    if (list_errno != 0) {
      skip(relative_dir, SkipReason::kUnreadable,
           "listing stopped early: " + errno_text(list_errno));
    }
    std::sort(names.begin(), names.end());

    const bool pushed = push_ignore_file(absolute_dir, relative_dir);
    for (const std::string& name : names) visit_entry(absolute_dir, relative_dir, name);
    if (pushed) rules_.pop_back();
    return Status::ok_status();
  }

  void visit_entry(const std::string& absolute_dir, const std::string& relative_dir,
                   const std::string& name) {
    const std::string relative = join(relative_dir, name);
    const std::string absolute = absolute_dir + "/" + name;
    if (name[0] == '.' && !options_.include_hidden) {
      ++stats_.excluded;
      return;
    }
    struct stat st {};
    if (::lstat(absolute.c_str(), &st) != 0) {
      skip(relative, SkipReason::kUnreadable, "cannot stat: " + errno_text(errno));
      return;
    }
    if (S_ISLNK(st.st_mode)) {
      if (!options_.follow_symlinks) {
        ++stats_.excluded;
        return;
      }
      if (::stat(absolute.c_str(), &st) != 0) {
        const int err = errno;
        skip(relative, SkipReason::kUnreadable,
             err == ENOENT  ? "dangling symbolic link"
             : err == ELOOP ? "symbolic link loop"
                            : "cannot follow symbolic link: " + errno_text(err));
        return;
      }
    }
    const bool is_dir = S_ISDIR(st.st_mode);
    if (excluded(relative, is_dir)) {
      ++stats_.excluded;
      return;
    }
    if (is_dir) {
      const auto [it, inserted] = visited_dirs_.insert({st.st_dev, st.st_ino});
      if (!inserted) {
        skip(relative, SkipReason::kAlreadyVisited,
             "folder already walked through another path (a link cycle or a second link)");
        return;
      }
      (void)walk_directory(absolute, relative, /*is_root=*/false);  // never fails below the root
      return;
    }
    if (!S_ISREG(st.st_mode)) {
      skip(relative, SkipReason::kNotRegular, "not a regular file (FIFO, socket or device)");
      return;
    }
    visit_file(absolute, relative, name, st);
  }

  void visit_file(const std::string& absolute, const std::string& relative, const std::string& name,
                  const struct stat& st) {
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    FileType type = file_type_from_name(name);
    const bool has_extension = name.find('.', 1) != std::string::npos;
    if (type == FileType::kUnknown && has_extension) {
      if (options_.report_unsupported) {
        skip(relative, SkipReason::kUnsupportedType,
             "unsupported file type '" + name.substr(name.rfind('.')) + "'");
      } else {
        ++stats_.excluded;
      }
      return;
    }
    if (size > options_.max_file_bytes) {
      skip(relative, SkipReason::kTooLarge,
           std::to_string(size) + " bytes, over the " + std::to_string(options_.max_file_bytes) +
               "-byte limit");
      return;
    }
    // Read the head: it proves the file can be opened and tells text from binary.
    const int fd = ::open(absolute.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
      skip(relative, SkipReason::kUnreadable, "cannot open: " + errno_text(errno));
      return;
    }
    uint8_t head[kSniffBytes];
    size_t filled = 0;
    int read_errno = 0;
    while (filled < sizeof head) {
      const ssize_t n =
          ::pread(fd, head + filled, sizeof head - filled, static_cast<off_t>(filled));
      if (n < 0) {
        if (errno == EINTR) continue;
        read_errno = errno;
        break;
      }
      if (n == 0) break;
      filled += static_cast<size_t>(n);
    }
    ::close(fd);
    if (read_errno != 0) {
      skip(relative, SkipReason::kUnreadable, "cannot read: " + errno_text(read_errno));
      return;
    }
    const ContentCheck check = check_content({head, filled});
    if (check.is_pdf) {
      type = FileType::kPdf;
    } else if (type == FileType::kPdf) {
      skip(relative, SkipReason::kBinary, "named .pdf but has no %PDF- header");
      return;
    } else if (check.is_binary) {
      skip(relative, SkipReason::kBinary, check.reason);
      return;
    } else if (type == FileType::kUnknown) {
      type = FileType::kText;  // no extension and text inside: a script, a note
    }
    FoundFile file;
    file.relative_path = relative;
    file.absolute_path = absolute;
    file.size_bytes = size;
    file.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    file.type = type;
    ++stats_.files;
    visitor_.on_file(file);
  }

  const WalkOptions& options_;
  WalkVisitor& visitor_;
  IgnoreRules command_line_;
  std::vector<IgnoreRules> rules_;  // the ignore files of the directories on the current path
  std::set<std::pair<dev_t, ino_t>> visited_dirs_;
  WalkStats stats_;
};

class CollectingVisitor : public WalkVisitor {
 public:
  explicit CollectingVisitor(WalkResult& result) : result_(result) {}
  void on_file(const FoundFile& file) override { result_.files.push_back(file); }
  void on_skipped(const SkippedEntry& entry) override { result_.skipped.push_back(entry); }

 private:
  WalkResult& result_;
};

}  // namespace

const char* skip_reason_name(SkipReason reason) {
  switch (reason) {
    case SkipReason::kTooLarge:
      return "too large";
    case SkipReason::kBinary:
      return "binary";
    case SkipReason::kUnsupportedType:
      return "unsupported type";
    case SkipReason::kUnreadable:
      return "unreadable";
    case SkipReason::kAlreadyVisited:
      return "already visited";
    case SkipReason::kNotRegular:
      return "not a regular file";
  }
  return "unknown";
}

Result<WalkStats> walk_folder(const std::string& root, const WalkOptions& options,
                              WalkVisitor& visitor) {
  Walker walker(options, visitor);
  RAGKIT_RETURN_IF_ERROR(walker.run(root));
  return walker.stats();
}

Result<WalkResult> walk_folder(const std::string& root, const WalkOptions& options) {
  WalkResult result;
  CollectingVisitor visitor(result);
  RAGKIT_ASSIGN_OR_RETURN(result.stats, walk_folder(root, options, visitor));
  return result;
}

}  // namespace ragkit::retrieval
