// The bad-input catalogue's machinery (Catalogue.h): the shared world, the
// set-up actions, one run of a built tool and the checks on what it did.
#include "Catalogue.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "TempDir.h"
#include "ToolRun.h"
#include "common/Json.h"
#include "common/Sha256.h"
#include "data/Dataset.h"
#include "report/Feed.h"

namespace fs = std::filesystem;

namespace cvgate::badinput {

namespace detail {

void writeBytes(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

ConfigMap worldConfig(const std::string& w) {
  ConfigMap c;
  c[""]["state_dir"] = "\"" + w + "/state\"";
  c["models"]["current"] = "\"" + w + "/models/current.pt\"";
  c["models"]["candidate"] = "\"" + w + "/models/candidate.pt\"";
  c["dataset"]["format"] = "\"idx\"";
  c["dataset"]["images"] = "\"" + w + "/data/images.idx\"";
  c["dataset"]["labels"] = "\"" + w + "/data/labels.idx\"";
  c["runtime"]["intra_op_threads"] = "1";
  c["runtime"]["batch_size"] = "8";
  c["golden"]["count"] = "8";
  c["integration"]["behaviour_samples"] = "8";
  c["compliance"]["bootstrap_resamples"] = "200";
  c["compliance"]["min_per_class"] = "1";
  c["latency"]["min_samples"] = "50";
  c["latency"]["search_min_samples"] = "50";
  c["rollback"]["drill_repeats"] = "3";
  return c;
}

std::string renderConfig(const ConfigMap& c) {
  std::string out;
  if (auto top = c.find(""); top != c.end())
    for (const auto& [k, v] : top->second) out += k + " = " + v + "\n";
  for (const auto& [section, keys] : c) {
    if (section.empty()) continue;
    out += "[" + section + "]\n";
    for (const auto& [k, v] : keys) out += k + " = " + v + "\n";
  }
  return out;
}

}  // namespace detail

namespace {

using namespace detail;

using cvgate::testing::runCommand;
using cvgate::testing::slurp;
using cvgate::testing::ToolRun;

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> splitOn(const std::string& s, const std::string& sep) {
  std::vector<std::string> out;
  std::size_t from = 0;
  for (;;) {
    const auto at = s.find(sep, from);
    out.push_back(s.substr(from, at == std::string::npos ? std::string::npos : at - from));
    if (at == std::string::npos) return out;
    from = at + sep.size();
  }
}

/// \n \r \t \\ \xHH in a case's text.
std::string unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    const char c = s[++i];
    if (c == 'n') out += '\n';
    else if (c == 'r') out += '\r';
    else if (c == 't') out += '\t';
    else if (c == '\\') out += '\\';
    else if (c == 'x' && i + 2 < s.size() + 0) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else throw std::runtime_error("unknown escape \\" + std::string(1, c));
  }
  return out;
}

std::string replaceAll(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size()) s.replace(at, from.size(), to);
  return s;
}

std::string gzip(const std::string& raw) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("deflateInit2");
  std::string out(deflateBound(&zs, static_cast<uLong>(raw.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("deflate");
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string crc32be(const std::string& bytes) {
  return be32(static_cast<std::uint32_t>(
      ::crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size()))));
}

/// An IDX file: magic, then the dims, then `payload` bytes of zeros.
std::string idxBytes(std::uint32_t magic, const std::vector<std::uint32_t>& dims, std::size_t payload) {
  std::string s = be32(magic);
  for (auto d : dims) s += be32(d);
  return s + std::string(payload, '\0');
}

/// A PNG whose IHDR (valid CRC) claims width x height, grey 8 bit, with one
/// empty IDAT: the decoder must refuse the size before it allocates.
std::string pngHeader(std::uint32_t w, std::uint32_t h) {
  std::string ihdr = "IHDR" + be32(w) + be32(h) + std::string("\x08\x00\x00\x00\x00", 5);
  std::string idat = "IDAT" + gzip("");
  return std::string("\x89PNG\r\n\x1a\n", 8) + be32(13) + ihdr + crc32be(ihdr) +
         be32(static_cast<std::uint32_t>(idat.size() - 4)) + idat + crc32be(idat) + be32(0) + "IEND" +
         crc32be("IEND");
}

/// A baseline JPEG header (SOI, SOF0 claiming width x height, one grey
/// component) with nothing after it.
std::string jpegHeader(std::uint16_t w, std::uint16_t h) {
  std::string s("\xFF\xD8\xFF\xC0\x00\x0B\x08", 7);
  s += static_cast<char>(h >> 8);
  s += static_cast<char>(h & 0xFF);
  s += static_cast<char>(w >> 8);
  s += static_cast<char>(w & 0xFF);
  s += std::string("\x01\x01\x11\x00", 4);
  return s;
}

/// Every file, symlink and directory under `root`: path -> what it is
/// (a regular file by its sha256, a symlink by its target).
std::map<std::string, std::string> snapshot(const std::string& root) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(root, ec))) return out;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const auto rel = fs::relative(it->path(), root).string();
    const auto st = it->symlink_status();
    const auto name = it->path().filename().string();
    if (fs::is_symlink(st)) out[rel] = "symlink " + fs::read_symlink(it->path()).string();
    // A lock file records its last holder by design: its kind counts, not its bytes.
    else if (fs::is_regular_file(st) && name.size() > 5 && name.compare(name.size() - 5, 5, ".lock") == 0)
      out[rel] = "lock file";
    else if (fs::is_regular_file(st)) out[rel] = "file " + sha256Hex(slurp(it->path().string()));
    else if (fs::is_directory(st)) out[rel] = "dir";
    else out[rel] = "special";
  }
  return out;
}

std::string describeChanges(const std::map<std::string, std::string>& before,
                            const std::map<std::string, std::string>& after, bool newFilesAllowed) {
  std::string out;
  for (const auto& [p, what] : before) {
    auto it = after.find(p);
    if (it == after.end()) out += " removed " + p + ";";
    else if (it->second != what) out += " changed " + p + ";";
  }
  if (!newFilesAllowed)
    for (const auto& [p, what] : after)
      if (!before.count(p)) out += " created " + p + ";";
  return out;
}

/// One set-up action, its words already substituted.
void runAction(const std::string& action, const std::string& d, const std::string& world, ConfigMap& cfg,
               bool& cfgTouched) {
  std::istringstream in(action);
  std::string verb;
  in >> verb;
  auto word = [&](const char* what) {
    std::string w;
    if (!(in >> w)) throw std::runtime_error("action '" + verb + "' needs " + what);
    return w;
  };
  auto rest = [&] {
    std::string r;
    std::getline(in, r);
    return r.empty() ? r : r.substr(1);  // the one space after the last word
  };
  auto path = [&](const std::string& p) { return p.empty() || p[0] == '/' ? p : d + "/" + p; };

  if (verb == "write") {
    const auto p = path(word("a path"));
    writeBytes(p, unescape(rest()));
  } else if (verb == "cfg") {
    // cfg section.key RAW: set one key of this case's config ({d}/cvgate.toml); RAW "-" removes it.
    const auto key = word("section.key");
    const auto value = rest();
    const auto dot = key.rfind('.');
    const std::string section = dot == std::string::npos ? "" : key.substr(0, dot);
    const std::string k = dot == std::string::npos ? key : key.substr(dot + 1);
    if (value == "-") cfg[section].erase(k);
    else cfg[section][k] = unescape(value);
    cfgTouched = true;
  } else if (verb == "copy") {
    const auto from = path(word("a source")), to = path(word("a destination"));
    fs::create_directories(fs::path(to).parent_path());
    fs::copy_file(from, to, fs::copy_options::overwrite_existing);
  } else if (verb == "copytree") {
    const auto from = path(word("a source")), to = path(word("a destination"));
    fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  } else if (verb == "trunc") {
    const auto p = path(word("a path"));
    fs::resize_file(p, std::stoull(word("a size")));
  } else if (verb == "append") {
    const auto p = path(word("a path"));
    std::ofstream(p, std::ios::binary | std::ios::app) << unescape(rest());
  } else if (verb == "jset") {
    // jset FILE /json/pointer RAWJSON: the file's JSON with one value set ("-" removes it).
    const auto p = path(word("a file"));
    const auto ptr = word("a JSON pointer");
    const auto value = rest();
    json j = json::parse(slurp(p));
    if (value == "-") {
      const json::json_pointer jp(ptr);
      j[jp.parent_pointer()].erase(jp.back());
    } else {
      j[json::json_pointer(ptr)] = json::parse(unescape(value));
    }
    writeBytes(p, j.dump(1));
  } else if (verb == "deep") {
    // deep FILE /json/pointer N: the value at the pointer becomes N nested arrays.
    const auto p = path(word("a file"));
    const auto ptr = word("a JSON pointer");
    const int n = std::stoi(word("a depth"));
    json j = json::parse(slurp(p));
    const std::string marker = "\"@@deep@@\"";
    j[json::json_pointer(ptr)] = "@@deep@@";
    std::string text = j.dump();
    text.replace(text.find(marker), marker.size(),
                 std::string(static_cast<std::size_t>(n), '[') + std::string(static_cast<std::size_t>(n), ']'));
    writeBytes(p, text);
  } else if (verb == "nest") {
    // nest FILE N: a whole file of N nested arrays.
    const auto p = path(word("a file"));
    const int n = std::stoi(word("a depth"));
    writeBytes(p, std::string(static_cast<std::size_t>(n), '[') + std::string(static_cast<std::size_t>(n), ']'));
  } else if (verb == "big") {
    // big FILE MB: a sparse file of that many MiB (reads of it must stop at the cap).
    const auto p = path(word("a file"));
    const auto mb = std::stoull(word("a size in MiB"));
    writeBytes(p, "");
    fs::resize_file(p, mb << 20);
  } else if (verb == "idx" || verb == "gzidx") {
    // idx FILE MAGIC(hex) PAYLOAD DIM...: an IDX file (gzipped for gzidx).
    const auto p = path(word("a file"));
    const auto magic = static_cast<std::uint32_t>(std::stoul(word("a magic"), nullptr, 16));
    const auto payload = std::stoull(word("a payload size"));
    std::vector<std::uint32_t> dims;
    for (std::string w; in >> w;) dims.push_back(static_cast<std::uint32_t>(std::stoul(w)));
    const auto bytes = idxBytes(magic, dims, payload);
    writeBytes(p, verb == "gzidx" ? gzip(bytes) : bytes);
  } else if (verb == "pnghdr") {
    const auto p = path(word("a file"));
    const auto w = static_cast<std::uint32_t>(std::stoul(word("a width")));
    writeBytes(p, pngHeader(w, static_cast<std::uint32_t>(std::stoul(word("a height")))));
  } else if (verb == "jpeghdr") {
    const auto p = path(word("a file"));
    const auto w = static_cast<std::uint16_t>(std::stoul(word("a width")));
    writeBytes(p, jpegHeader(w, static_cast<std::uint16_t>(std::stoul(word("a height")))));
  } else if (verb == "mkfifo") {
    const auto p = path(word("a path"));
    fs::create_directories(fs::path(p).parent_path());
    if (::mkfifo(p.c_str(), 0600) != 0) throw std::runtime_error("mkfifo " + p);
  } else if (verb == "mkdir") {
    fs::create_directories(path(word("a path")));
  } else if (verb == "symlink") {
    const auto target = word("a target");
    const auto p = path(word("a link path"));
    fs::create_directories(fs::path(p).parent_path());
    std::error_code ec;
    fs::remove(p, ec);
    fs::create_symlink(target, p);
  } else if (verb == "rm") {
    fs::remove_all(path(word("a path")));
  } else if (verb == "flip") {
    // flip FILE OFFSET: one bit of the byte at OFFSET (negative: from the end).
    const auto p = path(word("a path"));
    const long long at = std::stoll(word("an offset"));
    std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
    const auto size = static_cast<long long>(fs::file_size(p));
    const long long pos = at < 0 ? size + at : at;
    if (pos < 0 || pos >= size) throw std::runtime_error("flip: offset " + std::to_string(at) + " outside " + p);
    f.seekg(pos);
    char ch = 0;
    f.get(ch);
    f.seekp(pos);
    f.put(static_cast<char>(ch ^ 0x01));
  } else if (verb == "chmod") {
    const auto p = path(word("a path"));
    fs::permissions(p, static_cast<fs::perms>(std::stoul(word("a mode"), nullptr, 8)));
  } else {
    throw std::runtime_error("unknown action '" + verb + "'");
  }
  (void)world;
}

}  // namespace

std::vector<Case> loadCases(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::vector<Case> out;
  std::map<std::string, int> seen;
  int n = 0;
  for (std::string line; std::getline(f, line);) {
    ++n;
    if (trim(line).empty() || trim(line)[0] == '#') continue;
    auto parts = splitOn(line, " | ");
    if (parts.size() != 6)
      throw std::runtime_error(path + ":" + std::to_string(n) + ": expected 6 fields separated by ' | '");
    Case c;
    c.line = n;
    c.id = trim(parts[0]);
    c.tool = trim(parts[1]);
    c.args = trim(parts[2]);
    c.setup = trim(parts[3]);
    c.code = std::stoi(trim(parts[4]));
    c.fragment = unescape(trim(parts[5]));
    if (c.fragment.empty()) throw std::runtime_error(path + ":" + std::to_string(n) + ": no fragment");
    if (seen.count(c.id))
      throw std::runtime_error(path + ":" + std::to_string(n) + ": id '" + c.id + "' repeats line " +
                               std::to_string(seen[c.id]));
    seen[c.id] = n;
    out.push_back(c);
  }
  return out;
}

std::string worldDir() {
  const char* w = std::getenv("CVGATE_BADINPUT_WORLD");
  return w && *w ? w : CVGATE_BADINPUT_WORLD;
}

std::string runCase(const Case& c) {
  const std::string w = worldDir();
  if (!fs::exists(w + "/ready")) return "the world is not built (" + w + "): run the badinput_world test first";
  cvgate::testing::TempDir tmp;
  const std::string d = tmp.path();
  const std::string state = d + "/state";
  fs::copy(w + "/state", state, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  // The registry's current.pt is relative; the feeds' contents are independent of the path.
  auto subst = [&](std::string s) {
    s = replaceAll(s, "{cfg}", "{d}/cvgate.toml");
    s = replaceAll(s, "{state}", state);
    s = replaceAll(s, "{w}", w);
    return replaceAll(s, "{d}", d);
  };
  ConfigMap cfg = worldConfig(w);
  cfg[""]["state_dir"] = "\"" + state + "\"";
  bool cfgTouched = false;
  try {
    if (!c.setup.empty() && c.setup != "-")
      for (const auto& a : splitOn(c.setup, " ; ")) runAction(subst(trim(a)), d, w, cfg, cfgTouched);
  } catch (const std::exception& e) {
    return "set-up failed: " + std::string(e.what());
  }
  if (!fs::exists(d + "/cvgate.toml") || cfgTouched) writeBytes(d + "/cvgate.toml", renderConfig(cfg));

  const auto before = snapshot(state);
  // The heartbeat is a script in the source tree that runs the built tools.
  const std::string exe = c.tool == "heartbeat" ? std::string(CVGATE_SOURCE_DIR) + "/tools/heartbeat"
                                                : cvgate::testing::binDir() + "/" + c.tool;
  const std::string cmd = "cd '" + d + "' && CVGATE_STATE_DIR='" + state + "' CVGATE_BIN_DIR='" +
                          cvgate::testing::binDir() + "' timeout -k 5 120 '" + exe + "' " + subst(c.args) +
                          " </dev/null";
  fs::create_directories(d + "/.out");
  const ToolRun r = runCommand(cmd, d + "/.out");
  const auto after = snapshot(state);

  std::string problems;
  const std::string fragment = subst(c.fragment);
  if (r.code != c.code) problems += " exit " + std::to_string(r.code) + ", expected " + std::to_string(c.code) + ";";
  if (c.code == 2) {
    const std::string prefix = c.tool + ": error: ";
    const auto lines = std::count(r.err.begin(), r.err.end(), '\n');
    if (lines != 1 || r.err.back() != '\n') problems += " stderr is not exactly one line;";
    if (r.err.rfind(prefix, 0) != 0) problems += " stderr does not start with '" + prefix + "';";
    for (const auto& f : splitOn(fragment, " && "))
      if (r.err.find(f) == std::string::npos) problems += " stderr does not name '" + f + "';";
    if (!r.out.empty()) problems += " stdout is not empty;";
    problems += describeChanges(before, after, false);
  } else {
    for (const auto& f : splitOn(fragment, " && "))
      if (r.err.find(f) == std::string::npos && r.out.find(f) == std::string::npos)
        problems += " neither stdout nor stderr holds '" + f + "';";
    problems += describeChanges(before, after, true);
  }
  if (problems.empty()) return "";
  return c.id + " (cases.txt:" + std::to_string(c.line) + "):" + problems + "\n  command: " + cmd +
         "\n  stderr: " + r.err.substr(0, 2000) + "\n  stdout: " + r.out.substr(0, 500);
}

}  // namespace cvgate::badinput
