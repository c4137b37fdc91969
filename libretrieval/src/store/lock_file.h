// LockFile: the one-writer-per-collection lock, `<dir>/LOCK`, held with flock(LOCK_EX|LOCK_NB)
// while the writer lives, with the holder's pid written inside so a second writer can say who
// holds it. flock locks belong to the open file description: the kernel drops them when the
// process dies (even on SIGKILL), so a crash never leaves a stale lock, and a second open in
// the same process conflicts too.
//
// Thread-safety: none needed; move-only RAII.
#pragma once

#include <string>

#include "ragkit/common/status.h"

namespace ragkit::retrieval::store {

class LockFile {
 public:
  // Error (kIOError) "<what> is open for writing by process <pid>" when another holds it.
  static Result<LockFile> acquire(const std::string& path, const std::string& what);
  LockFile(LockFile&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  LockFile& operator=(LockFile&& other) noexcept;
  LockFile(const LockFile&) = delete;
  LockFile& operator=(const LockFile&) = delete;
  ~LockFile();

 private:
  explicit LockFile(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace ragkit::retrieval::store
