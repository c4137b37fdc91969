// MappedFile in both modes: the bytes of the file, mapped or read into memory; empty files,
// missing files and directories refused or handled the same way in each mode.
#include "ragkit/common/mapped_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace ragkit {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("ragkit-mapped-" + std::to_string(::getpid()) + "-" + name))
      .string();
}

std::vector<uint8_t> write_bytes(const std::string& path, size_t n) {
  std::vector<uint8_t> bytes(n);
  for (size_t i = 0; i < n; ++i) bytes[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(n));
  return bytes;
}

TEST(MappedFile, BothModesGiveTheFilesBytes) {
  // Sizes around a page and beyond one 2 MB page (the in-memory copy is aligned to 2 MB).
  for (size_t n : {size_t{1}, size_t{4095}, size_t{4097}, (size_t{2} << 20) + 123}) {
    const std::string path = temp_path("bytes");
    const std::vector<uint8_t> want = write_bytes(path, n);
    for (MapMode mode : {MapMode::kMapped, MapMode::kInMemory}) {
      auto file = MappedFile::open(path, mode);
      ASSERT_TRUE(file.ok()) << file.status().to_string();
      ASSERT_EQ(file->size(), n);
      EXPECT_EQ(std::vector<uint8_t>(file->bytes().begin(), file->bytes().end()), want);
      if (mode == MapMode::kInMemory) {
        EXPECT_EQ(reinterpret_cast<uintptr_t>(file->data()) % (uintptr_t{2} << 20), 0u);
      }
      // Moving keeps the bytes where they are; the moved-from file is empty.
      const uint8_t* at = file->data();
      MappedFile moved = std::move(*file);
      EXPECT_EQ(moved.data(), at);
      EXPECT_EQ(file->size(), 0u);
      EXPECT_EQ(moved.bytes()[n - 1], want[n - 1]);
    }
    std::filesystem::remove(path);
  }
}

// A model-sized file is mapped at a 2 MB boundary (so the kernel can map it in 2 MB pages, and
// may drop and re-read its cached pages for that): the bytes are the file's, also while another
// map of the same file is open, and after it is closed.
TEST(MappedFile, LargeFilesAreMappedAtTwoMegabyteBoundaries) {
  const size_t n = (size_t{32} << 20) + 4099;
  const std::string path = temp_path("large");
  const std::vector<uint8_t> want = write_bytes(path, n);
  auto first = MappedFile::open(path);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  {
    auto second = MappedFile::open(path);
    ASSERT_TRUE(second.ok()) << second.status().to_string();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(second->data()) % (uintptr_t{2} << 20), 0u);
    EXPECT_EQ(std::vector<uint8_t>(second->bytes().begin(), second->bytes().end()), want);
  }
  EXPECT_EQ(reinterpret_cast<uintptr_t>(first->data()) % (uintptr_t{2} << 20), 0u);
  ASSERT_EQ(first->size(), n);
  EXPECT_EQ(std::vector<uint8_t>(first->bytes().begin(), first->bytes().end()), want);
  std::filesystem::remove(path);
}

TEST(MappedFile, EmptyMissingAndDirectoryAreTheSameInBothModes) {
  const std::string empty = temp_path("empty");
  write_bytes(empty, 0);
  for (MapMode mode : {MapMode::kMapped, MapMode::kInMemory}) {
    auto file = MappedFile::open(empty, mode);
    ASSERT_TRUE(file.ok());
    EXPECT_EQ(file->size(), 0u);
    EXPECT_TRUE(file->bytes().empty());
    auto missing = MappedFile::open(temp_path("missing"), mode);
    EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
    auto dir = MappedFile::open(std::filesystem::temp_directory_path().string(), mode);
    EXPECT_FALSE(dir.ok());
  }
  std::filesystem::remove(empty);
}

}  // namespace
}  // namespace ragkit
