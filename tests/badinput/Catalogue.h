// The bad-input catalogue (cases.txt): one line per malformed input, run
// against the built tool that reads it. A line is
//
//   id | tool | arguments | set-up | exit code | fragment
//
// - arguments: shell words after the tool's name; {w} is the shared world
//   (models, data, config, a state directory with a registry and one cycle's
//   reports: BadInputWorld), {d} the case's own scratch directory, {cfg} the
//   world's config, {state} the case's copy of the world's state directory
//   ($CVGATE_STATE_DIR points there for every case).
// - set-up: actions separated by " ; " that make the bad input in {d} (a
//   relative path is under {d}): write, cfg, copy, trunc, jset, deep, big,
//   idx, gzidx, pnghdr, jpeghdr, mkfifo, mkdir, symlink, rm, copytree, append,
//   nest, chmod, flip (see
//   runAction in Catalogue.cpp). Escapes in text: \n \t \\ \xHH.
// - exit code: 2 for bad input; another code where the man page documents
//   one (decide skips a poisoned history entry and still decides).
// - fragment: text the error line must contain: the file or value at fault
//   (several separated by " && ").
//
// Exit 2: stderr is exactly one line, "<tool>: error: ...", holding the
// fragment; stdout is empty; the state directory is byte-identical after the
// run (every file's sha256 and every symlink's target; a *.lock file only by
// its kind: it records its last holder by design). Any other code: the
// fragment is on stdout or stderr, and nothing that existed in the state
// directory before the run was changed or removed (new files, such as
// decide's verdict, may appear).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cvgate::badinput {

struct Case {
  int line = 0;
  std::string id, tool, args, setup;
  int code = 2;
  std::string fragment;
};

/// Parse cases.txt (comments with #, blank lines ignored); throws on a malformed line.
std::vector<Case> loadCases(const std::string& path);

/// The world the cases share, built once per ctest run by badinput_world.
std::string worldDir();

/// Build the world in `dir` (models, data, config, registry, one cycle's
/// reports). In World.cpp, its own executable (catalogue_world): it writes
/// fixture models with libtorch, which the cases' binary then need not load.
void buildWorld(const std::string& dir);

/// Run one case; returns "" when it behaved, else what went wrong.
std::string runCase(const Case& c);

// What the world builder and the cases share.
namespace detail {
/// Write `bytes` to `path`, making its directories; throws on failure.
void writeBytes(const std::string& path, const std::string& bytes);
/// A big-endian 32-bit integer, as IDX headers hold them.
std::string be32(std::uint32_t v);
/// The world's config as sections of key = raw TOML value; "" is the top level.
using ConfigMap = std::map<std::string, std::map<std::string, std::string>>;
ConfigMap worldConfig(const std::string& w);
std::string renderConfig(const ConfigMap& c);
}  // namespace detail

}  // namespace cvgate::badinput
