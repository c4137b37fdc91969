#include "ragkit/common/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace ragkit {

namespace fs = std::filesystem;

Status sync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::io_error("cannot open directory " + dir + ": " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Status::io_error("cannot sync directory " + dir + ": " + std::strerror(err));
  return Status::ok_status();
}

Status write_file_atomically(const std::string& path,
                             const std::function<Status(std::FILE* file)>& write) {
  const std::string temp = path + ".tmp-" + std::to_string(::getpid());
  std::FILE* file = std::fopen(temp.c_str(), "wbe");
  if (file == nullptr) {
    return Status::io_error("cannot create " + temp + ": " + std::strerror(errno));
  }
  Status status = write(file);
  if (status.ok() && std::fflush(file) != 0) {
    status = Status::io_error("cannot write " + temp + ": " + std::strerror(errno));
  }
  if (status.ok() && ::fsync(::fileno(file)) != 0) {
    status = Status::io_error("cannot sync " + temp + ": " + std::strerror(errno));
  }
  if (std::fclose(file) != 0 && status.ok()) {
    status = Status::io_error("cannot close " + temp + ": " + std::strerror(errno));
  }
  if (status.ok() && std::rename(temp.c_str(), path.c_str()) != 0) {
    status = Status::io_error("cannot rename " + temp + " to " + path + ": " +
                              std::strerror(errno));
  }
  if (!status.ok()) {
    std::error_code ec;
    fs::remove(temp, ec);
    return status;
  }
  const fs::path parent = fs::path(path).parent_path();
  return sync_directory(parent.empty() ? "." : parent.string());
}

Status write_file_atomically(const std::string& path, std::string_view bytes) {
  return write_file_atomically(path, [bytes, &path](std::FILE* file) {
    if (std::fwrite(bytes.data(), 1, bytes.size(), file) != bytes.size()) {
      return Status::io_error("cannot write " + path + ": " + std::strerror(errno));
    }
    return Status();
  });
}

void remove_stale_temp_files(const std::string& path) {
  const fs::path target(path);
  const std::string prefix = target.filename().string() + ".tmp-";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(
           target.parent_path().empty() ? fs::path(".") : target.parent_path(), ec)) {
    if (entry.path().filename().string().starts_with(prefix)) fs::remove(entry.path(), ec);
  }
}

}  // namespace ragkit
