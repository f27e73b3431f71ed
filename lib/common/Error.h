// Error and Expected<T>: how library code reports failure without exceptions
// crossing the tool boundary. Only a tool's main turns an Error into a message
// and an exit code.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

#include "common/Strings.h"

namespace cvgate {

/// What kind of failure, which decides the exit code a tool returns for it.
enum class ErrorKind {
  BadInput,  ///< the user's file, flag or value is wrong: exit 2
  Internal,  ///< a bug or an environment failure cvgate cannot explain: exit 1
};

/// One failure: a message in the house form "'thing': what was expected".
/// The tool name and "error:" are added by the tool's main, not here.
/// A message is one line by construction: a newline or other control byte that
/// came in with hostile data (a key, a schema, a file name) is escaped here, so
/// no reader has to remember to, and a log or report line cannot be split.
class Error {
 public:
  Error() = default;
  explicit Error(std::string message, ErrorKind kind = ErrorKind::BadInput)
      : message_(escaped(std::move(message))), kind_(kind) {}

  const std::string& message() const { return message_; }
  ErrorKind kind() const { return kind_; }
  /// Prefix context, e.g. Error("bad magic").context("'x.idx'") -> "'x.idx': bad magic".
  Error context(const std::string& prefix) const {
    return Error(prefix + ": " + message_, kind_);
  }

 private:
  static std::string escaped(std::string m) {
    for (unsigned char c : m)
      if (c < 0x20 || c == 0x7f) return oneLine(m);
    return m;
  }
  std::string message_;
  ErrorKind kind_ = ErrorKind::BadInput;
};

/// Shorthand constructors.
inline Error badInput(std::string msg) { return Error(std::move(msg), ErrorKind::BadInput); }
inline Error internalError(std::string msg) { return Error(std::move(msg), ErrorKind::Internal); }

/// A value or an Error. Minimal C++17 stand-in for std::expected.
template <class T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}              // NOLINT(implicit)
  Expected(Error error) : v_(std::move(error)) {}          // NOLINT(implicit)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

/// Expected<void>: success or an Error.
struct Unit {};
using Status = Expected<Unit>;
inline Status okStatus() { return Unit{}; }

}  // namespace cvgate

/// Propagate an error from an Expected expression, binding its value otherwise.
#define CVGATE_TRY_ASSIGN(var, expr)                 \
  auto var##_expected_ = (expr);                     \
  if (!var##_expected_.ok()) return var##_expected_.error(); \
  auto var = std::move(var##_expected_).value()

/// Propagate an error from a Status expression.
#define CVGATE_TRY(expr)                             \
  do {                                               \
    auto cvgate_status_ = (expr);                    \
    if (!cvgate_status_.ok()) return cvgate_status_.error(); \
  } while (0)
