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

// The file's bytes in huge-page memory, read-only once filled.
Result<HugePageMemory> read_into_memory(int fd, const std::string& path, size_t size) {
  Result<HugePageMemory> memory = HugePageMemory::allocate(size);
  if (!memory.ok()) return Status::io_error(path + ": " + memory.status().message());
  for (size_t done = 0; done < size;) {
    const ssize_t n = ::pread(fd, memory->data() + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = n < 0 ? std::strerror(errno) : "the file shrank while reading";
      return Status::io_error(path + ": cannot read: " + why);
    }
    done += static_cast<size_t>(n);
  }
  memory->make_read_only();
  return memory;
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
    Result<HugePageMemory> memory = read_into_memory(fd, path, file.size_);
    ::close(fd);
    if (!memory.ok()) return memory.status();
    file.memory_ = std::move(memory).value();
    file.data_ = file.memory_.data();
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
  }
  ::close(fd);
  return file;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(other.data_),
      size_(other.size_),
      memory_(std::move(other.memory_)),
      path_(std::move(other.path_)) {
  other.data_ = nullptr;
  other.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = other.data_;
    size_ = other.size_;
    path_ = std::move(other.path_);
    memory_ = std::move(other.memory_);
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

MappedFile::~MappedFile() { reset(); }

void MappedFile::reset() {
  // A map is unmapped here; an in-memory copy by its HugePageMemory.
  if (data_ != nullptr && memory_.data() == nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
  memory_ = HugePageMemory();
  data_ = nullptr;
  size_ = 0;
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
