#include "rocksdb_status.h"

#include <string>

namespace ragkit::retrieval {

Status from_rocksdb(const rocksdb::Status& status, std::string_view doing) {
  if (status.ok()) return Status::ok_status();
  std::string message = std::string(doing) + ": " + status.ToString();
  if (status.IsNotFound()) return Status::not_found(std::move(message));
  if (status.IsCorruption()) return Status::corruption(std::move(message));
  if (status.IsInvalidArgument()) return Status::invalid_argument(std::move(message));
  if (status.IsNotSupported()) return Status::not_supported(std::move(message));
  if (status.IsIOError() || status.IsBusy() || status.IsTimedOut() || status.IsTryAgain()) {
    if (status.ToString().find("lock") != std::string::npos) {
      message += " (is another process writing this collection?)";
    }
    return Status::io_error(std::move(message));
  }
  return Status::internal(std::move(message));
}

}  // namespace ragkit::retrieval
