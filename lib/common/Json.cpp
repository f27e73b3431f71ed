#include "common/Json.h"

#include "common/Fs.h"
#include "common/Limits.h"

namespace cvgate {

int jsonDepth(const std::string& text, int stopAt) {
  int depth = 0, deepest = 0;
  bool inString = false, escaped = false;
  for (char c : text) {
    if (inString) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') inString = false;
      continue;
    }
    switch (c) {
      case '"': inString = true; break;
      case '[':
      case '{':
        if (++depth > deepest) {
          deepest = depth;
          if (deepest > stopAt) return deepest;
        }
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default: break;
    }
  }
  return deepest;
}

Expected<json> parseJson(const std::string& text, const std::string& what) {
  const Limits& l = limits();
  if (text.size() > l.maxJsonBytes)
    return badInput(what + ": " + fmtBytes(text.size()) + " of JSON, larger than the limit of " +
                    fmtBytes(l.maxJsonBytes) + " ([limits] max_json_mb)");
  if (jsonDepth(text, l.maxJsonDepth) > l.maxJsonDepth)
    return badInput(what + ": JSON nested deeper than " + std::to_string(l.maxJsonDepth) +
                    " levels ([limits] max_json_depth)");
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return badInput(what + ": not valid JSON");
  return j;
}

Expected<json> readJsonFile(const std::string& path) {
  CVGATE_TRY_ASSIGN(text, readFile(path));
  return parseJson(text, "'" + path + "'");
}

JsonFields::JsonFields(const json& j, std::string where) : j_(j), where_(std::move(where)) {
  if (!j_.is_object()) error_ = where_ + ": expected a JSON object";
}

Status JsonFields::status() const {
  if (error_.empty()) return okStatus();
  return badInput(error_);
}

const json* JsonFields::field(const char* key) {
  if (!error_.empty() || !j_.is_object()) return nullptr;
  auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) return nullptr;
  return &*it;
}

void JsonFields::wrongType(const char* key, const char* expected) {
  if (error_.empty()) error_ = where_ + ": field '" + key + "': expected " + expected;
}

std::string JsonFields::str(const char* key, const std::string& def) {
  const json* f = field(key);
  if (!f) return def;
  if (!f->is_string()) {
    wrongType(key, "a string");
    return def;
  }
  return f->get<std::string>();
}

std::optional<std::string> JsonFields::optStr(const char* key) {
  const json* f = field(key);
  if (!f) return std::nullopt;
  if (!f->is_string()) {
    wrongType(key, "a string");
    return std::nullopt;
  }
  return f->get<std::string>();
}

double JsonFields::num(const char* key, double def) { return optNum(key).value_or(def); }

std::optional<double> JsonFields::optNum(const char* key) {
  const json* f = field(key);
  if (!f) return std::nullopt;
  if (!f->is_number()) {
    wrongType(key, "a number");
    return std::nullopt;
  }
  return f->get<double>();
}

std::int64_t JsonFields::integer(const char* key, std::int64_t def) {
  const json* f = field(key);
  if (!f) return def;
  if (!f->is_number_integer()) {
    wrongType(key, "an integer");
    return def;
  }
  return f->get<std::int64_t>();
}

bool JsonFields::boolean(const char* key, bool def) {
  const json* f = field(key);
  if (!f) return def;
  if (!f->is_boolean()) {
    wrongType(key, "true or false");
    return def;
  }
  return f->get<bool>();
}

json JsonFields::object(const char* key) {
  const json* f = field(key);
  if (!f) return json::object();
  if (!f->is_object()) {
    wrongType(key, "an object");
    return json::object();
  }
  return *f;
}

json JsonFields::array(const char* key) {
  const json* f = field(key);
  if (!f) return json::array();
  if (!f->is_array()) {
    wrongType(key, "an array");
    return json::array();
  }
  return *f;
}

JsonFields& JsonFields::require(const char* key) {
  if (error_.empty() && j_.is_object() && !j_.contains(key)) error_ = where_ + ": missing field '" + key + "'";
  return *this;
}

}  // namespace cvgate
