#include "ragkit/common/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ragkit {

namespace {

// The file's bytes in anonymous memory aligned to 2 MB and advised into huge pages, made
// read-only once filled. *region / *region_size: what to munmap.
Status read_into_memory(int fd, const std::string& path, size_t size, void** region,
                        size_t* region_size, const uint8_t** data) {
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t length = size + kHuge;  // room to align the start
  void* p = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    return Status::io_error(path + ": cannot allocate " + std::to_string(size) +
                            " bytes for the weights: " + std::strerror(errno));
  }
  auto* start = reinterpret_cast<uint8_t*>(
      (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~uintptr_t{kHuge - 1});
  ::madvise(start, size, MADV_HUGEPAGE);  // advice: without THP it is 4 KB pages, still correct
  for (size_t done = 0; done < size;) {
    const ssize_t n = ::pread(fd, start + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = n < 0 ? std::strerror(errno) : "the file shrank while reading";
      ::munmap(p, length);
      return Status::io_error(path + ": cannot read: " + why);
    }
    done += static_cast<size_t>(n);
  }
  ::mprotect(p, length, PROT_READ);
  *region = p;
  *region_size = length;
  *data = start;
  return Status::ok_status();
}

}  // namespace

Result<MappedFile> MappedFile::open(const std::string& path, MapMode mode) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return Status::not_found(path + ": no such file");
    return Status::io_error(path + ": cannot open: " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Status::io_error(path + ": cannot stat: " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::invalid_argument(path + ": not a regular file");
  }
  MappedFile file;
  file.path_ = path;
  file.size_ = static_cast<size_t>(st.st_size);
  if (file.size_ > 0 && mode == MapMode::kInMemory) {
    const Status read =
        read_into_memory(fd, path, file.size_, &file.map_, &file.map_size_, &file.data_);
    ::close(fd);
    if (!read.ok()) return read;
    return file;
  }
  if (file.size_ > 0) {
    void* p = ::mmap(nullptr, file.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      return Status::io_error(path + ": cannot mmap: " + std::strerror(err));
    }
    file.data_ = static_cast<const uint8_t*>(p);
    file.map_ = p;
    file.map_size_ = file.size_;
  }
  ::close(fd);
  return file;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(other.data_),
      size_(other.size_),
      map_(other.map_),
      map_size_(other.map_size_),
      path_(std::move(other.path_)) {
  other.data_ = nullptr;
  other.size_ = 0;
  other.map_ = nullptr;
  other.map_size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = other.data_;
    size_ = other.size_;
    map_ = other.map_;
    map_size_ = other.map_size_;
    path_ = std::move(other.path_);
    other.data_ = nullptr;
    other.size_ = 0;
    other.map_ = nullptr;
    other.map_size_ = 0;
  }
  return *this;
}

MappedFile::~MappedFile() { reset(); }

void MappedFile::reset() {
  if (map_ != nullptr) ::munmap(map_, map_size_);
  data_ = nullptr;
  size_ = 0;
  map_ = nullptr;
  map_size_ = 0;
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return Status::not_found(path + ": no such file");
    return Status::io_error(path + ": cannot open for reading");
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::io_error(path + ": read failed");
  return ss.str();
}

}  // namespace ragkit
