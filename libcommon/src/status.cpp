#include "ragkit/common/status.h"

#include <cstdio>

namespace ragkit {

const char* status_code_name(Status::Code code) {
  switch (code) {
    case Status::Code::kOk: return "ok";
    case Status::Code::kInvalidArgument: return "invalid argument";
    case Status::Code::kNotFound: return "not found";
    case Status::Code::kCorruption: return "corrupt";
    case Status::Code::kNotSupported: return "not supported";
    case Status::Code::kOutOfRange: return "out of range";
    case Status::Code::kIOError: return "I/O error";
    case Status::Code::kInternal: return "internal error";
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  return std::string(status_code_name(code_)) + ": " + message_;
}

Status Status::with_context(std::string_view context) const {
  if (ok()) return *this;
  return Status(code_, std::string(context) + ": " + message_);
}

void abort_with_status(const Status& status) {
  std::fprintf(stderr, "ragkit: value() called on a failed Result: %s\n", status.to_string().c_str());
  std::abort();
}

}  // namespace ragkit
