// walk_folder on a tree built in a temp folder: order, hidden entries, excludes, nested
// .ragignore rules with negation, link cycles, links out of the root, size limit, binary files,
// unreadable entries.
//
// Unreadable entries: tests may run as root, where chmod 000 does not stop a read. A dangling
// symbolic link (stat fails with ENOENT) and a FIFO (never opened: reading it would block) stand
// in for unreadable files whoever runs the test; chmod 000 is checked in addition when not root.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "ragkit/retrieval/folder_walker.h"
#include "test_env.h"

namespace ragkit::retrieval {
namespace {

namespace fs = std::filesystem;

void write(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << content;
}

std::map<std::string, SkippedEntry> skipped_by_path(const WalkResult& result) {
  std::map<std::string, SkippedEntry> map;
  for (const SkippedEntry& entry : result.skipped) map[entry.relative_path] = entry;
  return map;
}

std::vector<std::string> paths(const WalkResult& result) {
  std::vector<std::string> out;
  for (const FoundFile& file : result.files) out.push_back(file.relative_path);
  return out;
}

class IngestFolderWalker : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = testing::make_temp_dir("ragkit-walk");
    outside_ = testing::make_temp_dir("ragkit-walk-outside");
    const fs::path r = root_;
    write(r / "a.txt", "hello\n");
    write(r / "b.md", "# Title\n");
    write(r / ".hidden.txt", "secret\n");
    write(r / ".git" / "config", "[core]\n");
    write(r / "logs" / "x.log", "log line\n");
    write(r / "notes" / "y.txt", "kept\n");
    write(r / "sub" / ".ragignore", "# temp files\n*.tmp.txt\n!keep.tmp.txt\nbuild/\n");
    write(r / "sub" / "drop.tmp.txt", "x\n");
    write(r / "sub" / "keep.tmp.txt", "x\n");
    write(r / "sub" / "build" / "out.txt", "x\n");
    write(r / "sub" / "build.txt", "a file named like the folder rule\n");
    write(r / "sub" / "nested" / ".ragignore", "!*.tmp.txt\nsecret.txt\n");
    write(r / "sub" / "nested" / "again.tmp.txt", "x\n");
    write(r / "sub" / "nested" / "secret.txt", "x\n");
    write(r / "big.txt", std::string(2000, 'x'));
    write(r / "image.png", "\x89PNG\r\n");
    write(r / "data.txt", std::string("abc\0def", 7));
    write(r / "controls.txt", std::string(100, '\x01'));
    write(r / "fake.pdf", "not a pdf\n");
    write(r / "paper", "%PDF-1.4\n%...\n");  // a PDF by its magic, whatever the name
    write(r / "README", "no extension, text inside\n");
    write(r / "utf16.txt", std::string("\xFF\xFE"
                                       "a\0b\0",
                                       6));
    write(fs::path(outside_) / "o.txt", "outside the root\n");
    fs::create_directory_symlink(".", r / "loop");              // a cycle to the root
    fs::create_directory_symlink("..", r / "sub" / "up");       // a cycle to the root
    fs::create_directory_symlink(outside_, r / "ext");          // out of the root: followed
    fs::create_directory_symlink(outside_, r / "ext2");         // the same folder again
    fs::create_symlink(r / "missing.txt", r / "dangling.txt");  // unreadable
    fs::create_symlink(r / "a.txt", r / "link_to_a.txt");       // a link to a file: a file
    ASSERT_EQ(::mkfifo((r / "fifo.txt").c_str(), 0644), 0);
  }

  std::string root_, outside_;
};

TEST_F(IngestFolderWalker, FindsSkipsAndReports) {
  WalkOptions options;
  options.exclude = {"*.log"};
  options.max_file_bytes = 1000;
  auto result = walk_folder(root_, options);
  ASSERT_TRUE(result.ok()) << result.status().to_string();

  // Sorted, depth-first; hidden entries, excluded files and the excluded folder are absent.
  const std::vector<std::string> expected = {
      "README",      "a.txt", "b.md",          "ext/o.txt",        "link_to_a.txt",
      "notes/y.txt", "paper", "sub/build.txt", "sub/keep.tmp.txt", "sub/nested/again.tmp.txt"};
  EXPECT_EQ(paths(*result), expected);

  std::map<std::string, FoundFile> files;
  for (const FoundFile& file : result->files) files[file.relative_path] = file;
  EXPECT_EQ(files["README"].type, FileType::kText);
  EXPECT_EQ(files["b.md"].type, FileType::kMarkdown);
  EXPECT_EQ(files["paper"].type, FileType::kPdf);
  EXPECT_EQ(files["a.txt"].size_bytes, 6u);
  EXPECT_EQ(files["a.txt"].absolute_path, root_ + "/a.txt");
  EXPECT_GT(files["a.txt"].mtime_ns, 1'600'000'000'000'000'000);

  const auto skipped = skipped_by_path(*result);
  auto reason = [&](const std::string& path) {
    auto it = skipped.find(path);
    EXPECT_NE(it, skipped.end()) << path << " not reported";
    return it == skipped.end() ? SkipReason::kUnreadable : it->second.reason;
  };
  auto detail = [&](const std::string& path) {
    auto it = skipped.find(path);
    return it == skipped.end() ? std::string() : it->second.detail;
  };
  EXPECT_EQ(reason("big.txt"), SkipReason::kTooLarge);
  EXPECT_EQ(detail("big.txt"), "2000 bytes, over the 1000-byte limit");
  EXPECT_EQ(reason("data.txt"), SkipReason::kBinary);
  EXPECT_EQ(detail("data.txt"), "binary: NUL byte at offset 3");
  EXPECT_EQ(reason("controls.txt"), SkipReason::kBinary);
  EXPECT_EQ(reason("utf16.txt"), SkipReason::kBinary);
  EXPECT_NE(detail("utf16.txt").find("UTF-16"), std::string::npos);
  EXPECT_EQ(reason("fake.pdf"), SkipReason::kBinary);
  EXPECT_EQ(reason("image.png"), SkipReason::kUnsupportedType);
  EXPECT_EQ(reason("loop"), SkipReason::kAlreadyVisited);
  EXPECT_EQ(reason("sub/up"), SkipReason::kAlreadyVisited);
  EXPECT_EQ(reason("ext2"), SkipReason::kAlreadyVisited);
  EXPECT_EQ(reason("dangling.txt"), SkipReason::kUnreadable);
  EXPECT_EQ(detail("dangling.txt"), "dangling symbolic link");
  EXPECT_EQ(reason("fifo.txt"), SkipReason::kNotRegular);
  // Nothing else is reported: excluded and hidden entries are counted, not listed.
  EXPECT_EQ(result->skipped.size(), 11u);
  EXPECT_EQ(result->stats.files, expected.size());
  // .hidden.txt, .git, logs/x.log, sub/.ragignore, sub/drop.tmp.txt, sub/build,
  // sub/nested/.ragignore, sub/nested/secret.txt
  EXPECT_EQ(result->stats.excluded, 8u);
}

TEST_F(IngestFolderWalker, SameOrderEveryTimeAndVisitorSeesTheSame) {
  auto first = walk_folder(root_);
  auto second = walk_folder(root_);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(paths(*first), paths(*second));

  struct Counter : WalkVisitor {
    std::vector<std::string> files;
    void on_file(const FoundFile& f) override { files.push_back(f.relative_path); }
    void on_skipped(const SkippedEntry&) override {}
  } counter;
  auto stats = walk_folder(root_, {}, counter);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(counter.files, paths(*first));
}

TEST_F(IngestFolderWalker, ExcludeOptionsOverrideRagignore) {
  WalkOptions options;
  options.exclude = {"sub/"};  // the whole folder, its negations included
  auto result = walk_folder(root_, options);
  ASSERT_TRUE(result.ok());
  for (const std::string& path : paths(*result)) EXPECT_NE(path.rfind("sub/", 0), 0u) << path;
  options.exclude = {"!*.log"};  // command-line negation wins over nothing: logs are in
  result = walk_folder(root_, options);
  ASSERT_TRUE(result.ok());
  const auto found = paths(*result);
  EXPECT_NE(std::find(found.begin(), found.end(), "logs/x.log"), found.end());
}

TEST_F(IngestFolderWalker, HiddenAndLinksOnRequest) {
  WalkOptions options;
  options.include_hidden = true;
  options.follow_symlinks = false;
  auto result = walk_folder(root_, options);
  ASSERT_TRUE(result.ok());
  const auto found = paths(*result);
  EXPECT_NE(std::find(found.begin(), found.end(), ".hidden.txt"), found.end());
  EXPECT_EQ(std::find(found.begin(), found.end(), "ext/o.txt"), found.end());
  EXPECT_EQ(std::find(found.begin(), found.end(), "link_to_a.txt"), found.end());
}

TEST_F(IngestFolderWalker, UnreadableFileWhenNotRoot) {
  if (::geteuid() == 0) {
    // Root reads a chmod-000 file anyway; the dangling link and the FIFO above cover this case.
    auto result = walk_folder(root_);
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(skipped_by_path(*result).count("dangling.txt"), 1u);
    return;
  }
  const fs::path locked = fs::path(root_) / "locked.txt";
  write(locked, "x\n");
  ::chmod(locked.c_str(), 0);
  auto result = walk_folder(root_);
  ASSERT_TRUE(result.ok());
  auto skipped = skipped_by_path(*result);
  ASSERT_EQ(skipped.count("locked.txt"), 1u);
  EXPECT_EQ(skipped["locked.txt"].reason, SkipReason::kUnreadable);
}

TEST(IngestFolderWalkerRoot, MissingOrFileRootIsAnError) {
  auto missing = walk_folder("/nonexistent/ragkit/folder");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);
  const std::string dir = testing::make_temp_dir("ragkit-walk-file");
  write(fs::path(dir) / "f.txt", "x");
  auto file = walk_folder(dir + "/f.txt");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), Status::Code::kInvalidArgument);
}

TEST(IngestFileType, NamesAndContent) {
  EXPECT_EQ(file_type_from_name("x/README.md"), FileType::kMarkdown);
  EXPECT_EQ(file_type_from_name("Page.HTM"), FileType::kHtml);
  EXPECT_EQ(file_type_from_name("main.cpp"), FileType::kCode);
  EXPECT_EQ(file_type_from_name("CMakeLists.txt"), FileType::kText);
  EXPECT_EQ(file_type_from_name("LICENSE"), FileType::kText);
  EXPECT_EQ(file_type_from_name("photo.jpg"), FileType::kUnknown);
  const std::string latin1 =
      "Caf\xE9 cr\xE8me, na\xEFve fa\xE7"
      "ade: ordinary prose in Latin-1.";
  EXPECT_FALSE(
      check_content({reinterpret_cast<const uint8_t*>(latin1.data()), latin1.size()}).is_binary);
  const std::string utf8 = "caf\xC3\xA9 \xE5\x8C\x97\xE4\xBA\xAC";
  EXPECT_FALSE(
      check_content({reinterpret_cast<const uint8_t*>(utf8.data()), utf8.size()}).is_binary);
  std::string elf =
      "\x7F"
      "ELF";
  elf += std::string(40, '\x02');
  EXPECT_TRUE(check_content({reinterpret_cast<const uint8_t*>(elf.data()), elf.size()}).is_binary);
}

}  // namespace
}  // namespace ragkit::retrieval
