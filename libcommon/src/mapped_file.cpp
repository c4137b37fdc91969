#include "ragkit/common/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
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

constexpr size_t kHugePage = kHugePageBytes;

// Files at least this large are mapped for 2 MB pages (map_for_huge_pages): a model's weights.
constexpr size_t kHugePageMinFile = 16 * kHugePage;

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22  // Linux 5.14
#endif

// Maps the file read-only at a 2 MB-aligned address, so that each 2 MB folio of its page cache
// can be mapped by one page-table entry, advises huge pages (the kernel then reads pages that are
// not cached in 2 MB folios) and faults the whole file in, as llama.cpp's MAP_POPULATE does: the
// first decoded token needs every weight anyway. nullptr when mmap fails (errno set).
void* map_for_huge_pages(int fd, size_t size) {
  void* reserved = ::mmap(nullptr, size + kHugePage, PROT_NONE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (reserved == MAP_FAILED) return nullptr;
  const auto base = reinterpret_cast<uintptr_t>(reserved);
  const uintptr_t aligned = (base + kHugePage - 1) & ~(kHugePage - 1);
  void* p =
      ::mmap(reinterpret_cast<void*>(aligned), size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    ::munmap(reserved, size + kHugePage);
    errno = err;
    return nullptr;
  }
  // Give back the reservation around the map (the map's own pages end at a 4 KB boundary).
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t end = (aligned + size + page - 1) & ~(page - 1);
  if (aligned > base) ::munmap(reserved, aligned - base);
  if (base + size + kHugePage > end)
    ::munmap(reinterpret_cast<void*>(end), base + size + kHugePage - end);
  // Advice only: a kernel without file THP or MADV_POPULATE_READ ignores it, and the map works
  // in 4 KB pages, faulted in as read.
  ::madvise(p, size, MADV_HUGEPAGE);
  ::madvise(p, size, MADV_POPULATE_READ);
  return p;
}

// Whether all but at most 1/32 of the map at `start` (`size` bytes, faulted in; its whole 2 MB
// pages) are mapped in 2 MB pages: its FilePmdMapped in /proc/self/smaps. False when it cannot
// tell. (At three quarters, an F32 SmolLM2-135M file left 17% in 4 KB pages from an earlier read
// passed; dropped and read again it mapped 100%, and its 113 MB output head then decoded at 10.0
// instead of 9.0 bytes per cycle, the other matrices at 9.8 instead of 9.35.)
bool mostly_huge_pages(const void* start, size_t size) {
  std::ifstream smaps("/proc/self/smaps");
  char head[32];
  std::snprintf(head, sizeof head, "%lx-",
                static_cast<unsigned long>(reinterpret_cast<uintptr_t>(start)));
  std::string line;
  bool ours = false;
  while (std::getline(smaps, line)) {
    if (!ours) {
      ours = line.rfind(head, 0) == 0;
      continue;
    }
    if (line.rfind("FilePmdMapped:", 0) == 0) {
      const unsigned long long kb = std::strtoull(line.c_str() + 14, nullptr, 10);
      const size_t whole = size / kHugePage * kHugePage;
      return kb * 1024 >= whole - whole / 32;
    }
    // The next map's header line ("start-end perms offset dev inode path"): past ours.
    const std::string first = line.substr(0, line.find(' '));
    if (first.find('-') != std::string::npos && first.find(':') == std::string::npos) return false;
  }
  return false;
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
  if (file.size_ >= kHugePageMinFile) {
    // A decoding step streams every weight: in 4 KB pages it takes a TLB miss and restarts the
    // hardware prefetchers every 4 KB (Q8_0 SmolLM2-135M decoded 5-10% slower). Kernels whose
    // page cache holds large folios (ext4 and XFS on recent Linux) map a cached 2 MB folio with
    // one entry, but a file written or read before in small folios (a download, `rag quantize`)
    // stays in them. Then its clean cached pages are dropped and the file is mapped again: the
    // faults read it back in 2 MB folios, once, and later loads find them cached.
    void* p = map_for_huge_pages(fd, file.size_);
    if (p != nullptr && !mostly_huge_pages(p, file.size_)) {
      ::munmap(p, file.size_);
      ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
      p = map_for_huge_pages(fd, file.size_);
    }
    if (p == nullptr) {
      int err = errno;
      ::close(fd);
      return Status::io_error(path + ": cannot mmap: " + std::strerror(err));
    }
    file.data_ = static_cast<const uint8_t*>(p);
  } else if (file.size_ > 0) {
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

void release_mapped_range(const void* begin, size_t size) {
  const uintptr_t b = reinterpret_cast<uintptr_t>(begin);
  const uintptr_t first = (b + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t end = (b + size) & ~(kHugePage - 1);
  if (first < end) ::madvise(reinterpret_cast<void*>(first), end - first, MADV_DONTNEED);
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
