// Labelled lists: a CSV or JSON Lines file of (path or file URI, label[, id]
// [, slice]), paths relative to the list file. Read bounded, checked line by
// line (a missing file, a duplicate path or id is refused with its line),
// hashed at open, decoded on get(). The format and the key rule: docs/data.md.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/Fs.h"
#include "common/Json.h"
#include "common/Sha256.h"
#include "common/Strings.h"
#include "data/Dataset.h"

namespace cvgate {

namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kColumns = {"path", "label", "id", "slice"};

/// One line of the list, as written.
struct Row {
  std::size_t line = 0;
  std::string path;                ///< as written (a path or a file:// URI)
  std::string label;               ///< a name, or digits for an index
  bool labelIsIndex = false;       ///< JSON: the label was a number
  bool hasId = false;
  std::string id;
  std::string slice;
};

struct Item {
  std::string file;                ///< resolved, normalised path
  std::string id;                  ///< Sample::id: the path as written
  std::string key;
  std::string slice;
  int label = 0;
};

void hashU64(Sha256& h, std::uint64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (56 - 8 * i));
  h.update(b, sizeof b);
}

void hashStr(Sha256& h, const std::string& s) {
  hashU64(h, s.size());
  h.update(s);
}

class ListDataset final : public Dataset {
 public:
  ListDataset(std::string path, std::vector<std::string> classes, bool indices, std::vector<Item> items,
              std::size_t slices, std::string sha)
      : path_(std::move(path)), classes_(std::move(classes)), indices_(indices), items_(std::move(items)),
        slices_(slices), sha_(std::move(sha)) {}

  std::size_t size() const override { return items_.size(); }
  const std::vector<std::string>& classes() const override { return classes_; }
  bool classesAreIndices() const override { return indices_; }
  const std::string& sha256() const override { return sha_; }
  std::string describe() const override {
    return "list:" + path_ + " (" + std::to_string(items_.size()) + " images, " + std::to_string(classes_.size()) +
           " classes" + (slices_ ? ", " + std::to_string(slices_) + " slices" : std::string()) + ")";
  }
  std::string key(std::size_t i) const override { return i < items_.size() ? items_[i].key : std::string(); }
  std::string slice(std::size_t i) const override { return i < items_.size() ? items_[i].slice : std::string(); }

  Expected<std::string> encoded(std::size_t i) const override {
    if (i >= items_.size())
      return internalError("'" + path_ + "': sample index " + std::to_string(i) + " out of range");
    return readFile(items_[i].file);
  }

  Expected<Sample> get(std::size_t i) const override {
    if (i >= items_.size())
      return internalError("'" + path_ + "': sample index " + std::to_string(i) + " out of range (size " +
                           std::to_string(items_.size()) + ")");
    const Item& it = items_[i];
    CVGATE_TRY_ASSIGN(bytes, readFile(it.file));
    CVGATE_TRY_ASSIGN(image, decodeImage(bytes, it.file));
    Sample s;
    s.image = std::move(image);
    s.label = it.label;
    s.id = it.id;
    s.key = it.key;
    s.slice = it.slice;
    return s;
  }

 private:
  std::string path_;
  std::vector<std::string> classes_;
  bool indices_;
  std::vector<Item> items_;
  std::size_t slices_;
  std::string sha_;
};

std::string lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::string trim(const std::string& s) {
  const auto a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  const auto b = s.find_last_not_of(" \t");
  return s.substr(a, b - a + 1);
}

bool allDigits(const std::string& s) {
  return !s.empty() && s.size() <= 9 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

/// The list's text split into CSV records (RFC 4180: quoted fields may hold
/// commas, doubled quotes and line breaks), each with the line it starts on.
/// Blank lines are skipped.
Expected<std::vector<std::pair<std::size_t, std::vector<std::string>>>> csvRecords(const std::string& text,
                                                                                   const std::string& what) {
  std::vector<std::pair<std::size_t, std::vector<std::string>>> out;
  std::size_t line = 1, i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    const std::size_t start = line;
    std::vector<std::string> fields;
    std::string field;
    bool quoted = false, wasQuoted = false, any = false;
    while (i < n) {
      const char ch = text[i];
      if (quoted) {
        if (ch == '"') {
          if (i + 1 < n && text[i + 1] == '"') {
            field.push_back('"');
            i += 2;
            continue;
          }
          quoted = false;
          ++i;
          continue;
        }
        if (ch == '\n') ++line;
        field.push_back(ch);
        ++i;
        continue;
      }
      if (ch == '"' && trim(field).empty() && !wasQuoted) {
        field.clear();
        quoted = wasQuoted = any = true;
        ++i;
        continue;
      }
      if (ch == ',') {
        fields.push_back(wasQuoted ? field : trim(field));
        field.clear();
        wasQuoted = false;
        any = true;
        ++i;
        continue;
      }
      if (ch == '\r' && i + 1 < n && text[i + 1] == '\n') {
        ++i;
        continue;
      }
      if (ch == '\n') {
        ++i;
        ++line;
        break;
      }
      if (wasQuoted && !std::isspace(static_cast<unsigned char>(ch)))
        return badInput(what + " line " + std::to_string(line) + ": text after a closing quote: expected ',' or the end of the line");
      field.push_back(ch);
      any = any || !std::isspace(static_cast<unsigned char>(ch));
      ++i;
    }
    if (quoted) return badInput(what + " line " + std::to_string(start) + ": a quoted field is not closed");
    fields.push_back(wasQuoted ? field : trim(field));
    if (!any && fields.size() == 1 && fields[0].empty()) continue;  // a blank line
    out.emplace_back(start, std::move(fields));
  }
  return out;
}

Expected<std::vector<Row>> parseCsv(const std::string& text, const std::string& what) {
  CVGATE_TRY_ASSIGN(records, csvRecords(text, what));
  if (records.empty()) return badInput(what + ": empty list: expected a header row (path,label[,id][,slice]) and rows");
  const auto& [headerLine, header] = records[0];
  std::map<std::string, std::size_t> col;
  for (std::size_t c = 0; c < header.size(); ++c) {
    const std::string name = lower(header[c]);
    if (std::find(kColumns.begin(), kColumns.end(), name) == kColumns.end())
      return badInput(what + " line " + std::to_string(headerLine) + ": column '" + header[c] +
                      "': expected a header row of path, label, id, slice" + didYouMean(name, kColumns));
    if (col.count(name))
      return badInput(what + " line " + std::to_string(headerLine) + ": column '" + name + "' appears twice");
    col[name] = c;
  }
  for (const char* need : {"path", "label"})
    if (!col.count(need))
      return badInput(what + " line " + std::to_string(headerLine) + ": no column '" + need +
                      "': expected a header row of path, label[, id][, slice]");
  std::vector<Row> rows;
  for (std::size_t r = 1; r < records.size(); ++r) {
    const auto& [line, f] = records[r];
    if (f.size() != header.size())
      return badInput(what + " line " + std::to_string(line) + ": " + std::to_string(f.size()) + " fields: expected " +
                      std::to_string(header.size()) + " (" + join(header, ",") + ")");
    Row row;
    row.line = line;
    row.path = f[col["path"]];
    row.label = f[col["label"]];
    if (col.count("id")) {
      row.hasId = true;
      row.id = f[col["id"]];
    }
    if (col.count("slice")) row.slice = f[col["slice"]];
    rows.push_back(std::move(row));
  }
  return rows;
}

Expected<std::vector<Row>> parseJsonLines(const std::string& text, const std::string& what) {
  std::vector<Row> rows;
  std::size_t start = 0, line = 0;
  while (start < text.size()) {
    ++line;
    std::size_t end = text.find('\n', start);
    std::string s = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    start = end == std::string::npos ? text.size() : end + 1;
    if (trim(s).empty() || trim(s) == "\r") continue;
    const std::string where = what + " line " + std::to_string(line);
    auto j = parseJson(s, where);
    if (!j) return j.error();
    if (!j->is_object()) return badInput(where + ": expected a JSON object {\"path\": ..., \"label\": ...}");
    Row row;
    row.line = line;
    for (const auto& [k, v] : j->items())
      if (std::find(kColumns.begin(), kColumns.end(), k) == kColumns.end())
        return badInput(where + ": key '" + k + "': expected path, label, id, slice" + didYouMean(k, kColumns));
    if (!j->contains("path") || !(*j)["path"].is_string())
      return badInput(where + ": 'path': expected a string (a path or a file:// URI)");
    row.path = (*j)["path"].get<std::string>();
    const json& label = j->contains("label") ? (*j)["label"] : json();
    if (label.is_string()) {
      row.label = label.get<std::string>();
    } else if (label.is_number_integer() && label.get<std::int64_t>() >= 0 && label.get<std::int64_t>() < 100000000) {
      row.label = std::to_string(label.get<std::int64_t>());
      row.labelIsIndex = true;
    } else {
      return badInput(where + ": 'label': expected a class name (a string) or an output index (an integer >= 0)");
    }
    if (j->contains("id") && !(*j)["id"].is_null()) {
      const json& id = (*j)["id"];
      if (id.is_string()) row.id = id.get<std::string>();
      else if (id.is_number_integer()) row.id = std::to_string(id.get<std::int64_t>());
      else return badInput(where + ": 'id': expected a string or an integer");
      row.hasId = true;
    }
    if (j->contains("slice") && !(*j)["slice"].is_null()) {
      const json& sl = (*j)["slice"];
      if (sl.is_string()) row.slice = sl.get<std::string>();
      else if (sl.is_number_integer()) row.slice = std::to_string(sl.get<std::int64_t>());
      else return badInput(where + ": 'slice': expected a string");
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// A path as written -> the file it names: file:// URIs decoded, relative
/// paths anchored at the list's directory.
Expected<std::string> resolvePath(const std::string& written, const fs::path& base, const std::string& where) {
  if (written.empty()) return badInput(where + ": empty path");
  std::string p = written;
  const auto scheme = p.find("://");
  if (scheme != std::string::npos && scheme > 0 &&
      std::all_of(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(scheme),
                  [](unsigned char c) { return std::isalnum(c) || c == '+' || c == '-' || c == '.'; })) {
    if (lower(p.substr(0, scheme)) != "file")
      return badInput(where + ": '" + written + "': expected a path or a file:// URI");
    p = p.substr(scheme + 3);
    if (p.rfind("localhost/", 0) == 0) p = p.substr(9);
    if (p.empty() || p[0] != '/')
      return badInput(where + ": '" + written + "': expected a file URI with an absolute path (file:///...)");
    std::string decoded;
    for (std::size_t i = 0; i < p.size(); ++i) {
      if (p[i] == '%') {
        const int hi = i + 2 < p.size() ? hexValue(p[i + 1]) : -1, lo = i + 2 < p.size() ? hexValue(p[i + 2]) : -1;
        if (hi < 0 || lo < 0) return badInput(where + ": '" + written + "': a bad %-escape");
        decoded.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
      } else {
        decoded.push_back(p[i]);
      }
    }
    p = decoded;
  }
  fs::path f(p);
  if (f.is_relative()) f = base / f;
  return f.lexically_normal().string();
}

}  // namespace

std::vector<std::string> sampleKeysFromPaths(const std::vector<std::string>& paths) {
  std::vector<std::string> stems;
  stems.reserve(paths.size());
  std::set<std::string> seen;
  bool unique = true;
  for (const auto& p : paths) {
    std::string name = p.substr(p.find_last_of('/') == std::string::npos ? 0 : p.find_last_of('/') + 1);
    const auto dot = name.find_last_of('.');
    if (dot != std::string::npos && dot > 0) name.resize(dot);
    if (!seen.insert(name).second) unique = false;
    stems.push_back(std::move(name));
  }
  return unique ? stems : paths;
}

Expected<std::unique_ptr<Dataset>> openList(const std::string& listPath) {
  CVGATE_TRY_ASSIGN(raw, readFile(listPath));
  std::string text = std::move(raw);
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // a UTF-8 byte order mark
  const std::string what = "'" + listPath + "'";
  std::string ext = lower(fs::path(listPath).extension().string());
  bool jsonLines = ext == ".jsonl" || ext == ".ndjson" || ext == ".json";
  if (ext != ".csv" && !jsonLines) {
    const auto first = text.find_first_not_of(" \t\r\n");
    jsonLines = first != std::string::npos && text[first] == '{';
  }
  Expected<std::vector<Row>> parsed = jsonLines ? parseJsonLines(text, what) : parseCsv(text, what);
  if (!parsed) return parsed.error();
  std::vector<Row> rows = std::move(*parsed);
  if (rows.empty()) return badInput(what + ": no samples listed");

  std::error_code ec;
  const fs::path base = fs::absolute(fs::path(listPath), ec).parent_path();
  auto where = [&](const Row& r) { return what + " line " + std::to_string(r.line); };

  // Labels: names, or (every line) output indices. JSON says which by type;
  // in a CSV, labels that are all digits are indices.
  const bool anyIndex = std::any_of(rows.begin(), rows.end(), [](const Row& r) { return r.labelIsIndex; });
  const bool anyName = std::any_of(rows.begin(), rows.end(), [](const Row& r) { return !r.labelIsIndex; });
  bool indices = false;
  if (jsonLines && anyIndex && anyName) {
    const bool firstIsIndex = rows[0].labelIsIndex;
    for (const Row& r : rows)
      if (r.labelIsIndex != firstIsIndex)
        return badInput(where(r) + ": label " + (r.labelIsIndex ? r.label : "'" + r.label + "'") + " is " +
                        (r.labelIsIndex ? "an index" : "a name") + ", the first line's is " +
                        (firstIsIndex ? "an index" : "a name") + ": expected one or the other in every line");
  }
  indices = jsonLines ? anyIndex : std::all_of(rows.begin(), rows.end(), [](const Row& r) { return allDigits(r.label); });

  std::vector<std::string> classes;
  if (indices) {
    int maxLabel = 0;
    for (const Row& r : rows) maxLabel = std::max(maxLabel, std::stoi(r.label));
    for (int c = 0; c <= maxLabel; ++c) classes.push_back(std::to_string(c));
  } else {
    std::set<std::string> names;
    for (const Row& r : rows) {
      if (r.label.empty()) return badInput(where(r) + ": empty label: expected a class name or an output index");
      names.insert(r.label);
    }
    classes.assign(names.begin(), names.end());  // bytewise order
  }

  const bool haveIds = std::any_of(rows.begin(), rows.end(), [](const Row& r) { return r.hasId; });
  std::map<std::string, std::size_t> pathLine, idLine;
  std::set<std::string> slices;
  std::vector<Item> items;
  std::vector<std::string> written;
  items.reserve(rows.size());
  for (const Row& r : rows) {
    CVGATE_TRY_ASSIGN(file, resolvePath(r.path, base, where(r)));
    if (auto [it, fresh] = pathLine.emplace(file, r.line); !fresh)
      return badInput(where(r) + ": path '" + r.path + "' is listed already on line " + std::to_string(it->second));
    if (haveIds) {
      if (!r.hasId || r.id.empty()) return badInput(where(r) + ": no id: expected an id in every line, or in none");
      if (auto [it, fresh] = idLine.emplace(r.id, r.line); !fresh)
        return badInput(where(r) + ": id '" + r.id + "' is used already on line " + std::to_string(it->second));
    }
    std::error_code fe;
    const fs::file_status st = fs::status(file, fe);
    if (fe || !fs::exists(st)) return badInput(where(r) + ": '" + r.path + "': no such file ('" + file + "')");
    if (!fs::is_regular_file(st)) return badInput(where(r) + ": '" + r.path + "': not a regular file");
    Item it;
    it.file = file;
    it.id = r.path;
    it.slice = r.slice;
    if (!r.slice.empty()) slices.insert(r.slice);
    it.label = indices ? std::stoi(r.label)
                       : static_cast<int>(std::lower_bound(classes.begin(), classes.end(), r.label) - classes.begin());
    if (haveIds) it.key = r.id;
    // Keys by the ImageFolder rule: from the path relative to the list, or as written.
    std::string rel = fs::path(file).lexically_relative(base).generic_string();
    written.push_back(rel.empty() || rel.rfind("..", 0) == 0 ? fs::path(file).generic_string() : rel);
    items.push_back(std::move(it));
  }
  if (!haveIds) {
    const auto keys = sampleKeysFromPaths(written);
    for (std::size_t i = 0; i < items.size(); ++i) items[i].key = keys[i];
  }

  // The hash covers what the list says of each sample and the file's bytes.
  Sha256 h;
  h.update("cvgate.list/1\n");
  hashU64(h, classes.size());
  for (const auto& c : classes) hashStr(h, c);
  hashU64(h, items.size());
  for (const Item& it : items) {
    CVGATE_TRY_ASSIGN(bytes, readFile(it.file));
    hashStr(h, it.key);
    hashU64(h, static_cast<std::uint64_t>(it.label));
    hashStr(h, it.slice);
    hashStr(h, bytes);
  }
  std::unique_ptr<Dataset> ds = std::make_unique<ListDataset>(listPath, std::move(classes), indices, std::move(items),
                                                              slices.size(), h.hexdigest());
  return ds;
}

}  // namespace cvgate
