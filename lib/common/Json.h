// Reading JSON that cvgate did not necessarily write: bounded in size and
// nesting depth before the parser sees it (a deeply nested document would
// overflow the stack of every later copy or dump), and typed field access
// that turns a field of the wrong type into a one-line BadInput error
// instead of an exception.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "common/Error.h"

namespace cvgate {

using json = nlohmann::json;

/// Parse `text` as JSON. Larger than limits().maxJsonBytes, nested deeper than
/// limits().maxJsonDepth, or not JSON: a BadInput error that starts with `what`.
Expected<json> parseJson(const std::string& text, const std::string& what);

/// readFile + parseJson; errors name the file.
Expected<json> readJsonFile(const std::string& path);

/// The nesting depth of a JSON text (arrays and objects, outside strings);
/// stops counting once it passes `stopAt`.
int jsonDepth(const std::string& text, int stopAt);

/// Typed reads of an object's fields. A missing or null field gives the
/// default; a field of another type records the first error, named
/// "<where>: field '<key>': expected a string" etc. Check status() after.
class JsonFields {
 public:
  JsonFields(const json& j, std::string where);
  /// The object is read in place: a temporary would dangle.
  JsonFields(json&& j, std::string where) = delete;

  std::string str(const char* key, const std::string& def = "");
  std::optional<std::string> optStr(const char* key);
  double num(const char* key, double def = 0);
  std::optional<double> optNum(const char* key);
  std::int64_t integer(const char* key, std::int64_t def = 0);
  bool boolean(const char* key, bool def = false);
  /// An object field (an empty object when missing or null).
  json object(const char* key);
  /// An array field (an empty array when missing or null).
  json array(const char* key);
  /// A field that must be present (any type checked by the accessor used).
  JsonFields& require(const char* key);

  bool ok() const { return error_.empty(); }
  Status status() const;
  const std::string& where() const { return where_; }

 private:
  const json* field(const char* key);
  void wrongType(const char* key, const char* expected);

  const json& j_;
  std::string where_;
  std::string error_;
};

}  // namespace cvgate
