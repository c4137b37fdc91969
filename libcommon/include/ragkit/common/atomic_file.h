// Writing a file so that a crash leaves either the old file or the complete new one: the bytes
// go to "<path>.tmp-<pid>", which is fsynced, renamed over <path>, and the directory fsynced so
// the rename itself is durable. Readers never see a partial file.
//
// Thread-safety: functions; concurrent writers of the same path must be serialised by the
// caller (a collection's writer lock does).
#pragma once

#include <cstdio>
#include <functional>
#include <string>
#include <string_view>

#include "ragkit/common/status.h"

namespace ragkit {

// `write` fills the FILE* (positioned at 0); its error aborts the replacement.
Status write_file_atomically(const std::string& path,
                             const std::function<Status(std::FILE* file)>& write);

// The same with the whole contents given.
Status write_file_atomically(const std::string& path, std::string_view bytes);

// Removes "<path>.tmp-*" leftovers of writes that a crash interrupted.
void remove_stale_temp_files(const std::string& path);

// fsync of a directory (after creating or renaming entries in it).
Status sync_directory(const std::string& dir);

}  // namespace ragkit
