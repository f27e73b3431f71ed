// Exit codes shared by every cvgate tool (DESIGN.md section 6). Listed in
// every man page; the heartbeat passes decide's code through.
#pragma once

namespace cvgate::exitcode {

inline constexpr int kGo = 0;         ///< decide/heartbeat: GO. Other tools: report status pass.
inline constexpr int kInternal = 1;   ///< internal error: a bug or an unexplained environment failure
inline constexpr int kUsage = 2;      ///< bad usage or bad input (flag, config, file)
inline constexpr int kPause = 10;     ///< decide/heartbeat: PAUSE. Other tools: report status fail.
inline constexpr int kInconclusive = 11;  ///< other tools: report status inconclusive
inline constexpr int kRollback = 20;  ///< decide/heartbeat: ROLLBACK
inline constexpr int kBusy = 75;      ///< heartbeat/registry: another run holds the lock (EX_TEMPFAIL)

}  // namespace cvgate::exitcode
