// Status and Result<T>: how every fallible call at a library boundary reports failure.
//
// A Status is either ok or carries a code and a message meant for a person ("model.gguf: tensor
// 'blk.0.attn_q.weight' ends at byte 1234 but the file has 1000 bytes"). Result<T> holds either a
// T or a non-ok Status. Both are [[nodiscard]]: ignoring a failure is a compile warning.
// Exceptions from third-party libraries are caught where they enter our code and become a Status.
//
// Thread-safety: plain values; const methods are safe to call concurrently.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace ragkit {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kInvalidArgument,  // the caller passed something malformed
    kNotFound,         // a file, key or tensor is missing
    kCorruption,       // a file's bytes contradict its own format
    kNotSupported,     // valid, but not something ragkit implements
    kOutOfRange,       // a length or position past a limit
    kIOError,          // the operating system refused
    kInternal,         // a bug in ragkit
  };

  Status() = default;  // ok

  static Status ok_status() { return Status(); }
  static Status invalid_argument(std::string msg) { return {Code::kInvalidArgument, std::move(msg)}; }
  static Status not_found(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status corruption(std::string msg) { return {Code::kCorruption, std::move(msg)}; }
  static Status not_supported(std::string msg) { return {Code::kNotSupported, std::move(msg)}; }
  static Status out_of_range(std::string msg) { return {Code::kOutOfRange, std::move(msg)}; }
  static Status io_error(std::string msg) { return {Code::kIOError, std::move(msg)}; }
  static Status internal(std::string msg) { return {Code::kInternal, std::move(msg)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "corruption: model.gguf: ..." — for logs and error output.
  std::string to_string() const;

  // Returns a copy whose message is "<context>: <message>", same code.
  Status with_context(std::string_view context) const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

const char* status_code_name(Status::Code code);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    if (status_.ok()) status_ = Status::internal("Result constructed from an ok Status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  // Precondition: ok(). Checked: aborts with the status message otherwise.
  T& value() & { check(); return *value_; }
  const T& value() const& { check(); return *value_; }
  T&& value() && { check(); return std::move(*value_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  void check() const;
  std::optional<T> value_;
  Status status_;
};

[[noreturn]] void abort_with_status(const Status& status);

template <typename T>
void Result<T>::check() const {
  if (!value_.has_value()) abort_with_status(status_);
}

}  // namespace ragkit

#define RAGKIT_CONCAT_INNER(a, b) a##b
#define RAGKIT_CONCAT(a, b) RAGKIT_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function when `expr` (a Status) is not ok.
#define RAGKIT_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::ragkit::Status ragkit_status_ = (expr);        \
    if (!ragkit_status_.ok()) return ragkit_status_; \
  } while (0)

// `RAGKIT_ASSIGN_OR_RETURN(auto x, make_x());` — unwraps a Result or returns its Status.
#define RAGKIT_ASSIGN_OR_RETURN(lhs, expr) \
  RAGKIT_ASSIGN_OR_RETURN_IMPL(RAGKIT_CONCAT(ragkit_result_, __LINE__), lhs, expr)
#define RAGKIT_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

// Returns Status::corruption naming the failed condition when `cond` is false.
#define RAGKIT_CHECK_OR_CORRUPT(cond, context)                                            \
  do {                                                                                    \
    if (!(cond)) return ::ragkit::Status::corruption(std::string(context) + ": check '" #cond \
                                                     "' failed");                         \
  } while (0)
