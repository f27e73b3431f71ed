// verify-env: is this machine still the environment in which the production
// model was blessed, and does the model still produce what it produced then?
//
// One run gathers the evidence (fingerprint, model/config/data set hashes,
// the golden set run twice in-process), optionally records it as the lock
// (--record), and compares it with the lock. Every finding is a check of
// docs/checks.md: env.lock, env.drift.<part>, env.model_hash, env.determinism,
// env.golden, env.blas, env.threads.
//
// Drift policy: a drifted severe part (anything that can change outputs:
// BLAS provider and libraries, libtorch, ISA, libc, intra-op threads, numeric
// environment variables, config, data set) is a `fail` with severity
// "severe"; a drifted minor part (kernel release, host name, CPU model name,
// core count, memory, governor, inter-op threads, cvgate version, compiler)
// is a `pass` with severity "minor": it is reported, it does not block.
#pragma once

#include <string>
#include <vector>

#include "common/Error.h"
#include "env/Fingerprint.h"
#include "env/Lock.h"
#include "report/Report.h"
#include "report/ToolContext.h"

namespace cvgate {

inline constexpr const char* kEnvKind = "cvgate.env";

struct VerifyEnvOptions {
  bool record = false;             ///< --record: write the lock from this run, then compare
  std::string format = "json";     ///< --format: "json" (the report) or "text" (a table)
};

/// The lock file: [env] lock_file, relative to the state directory unless absolute.
std::string lockPath(const Config& config, const std::string& stateDir);

/// The command that records a lock for this context.
std::string recordCommand(const ToolContext& ctx);

/// Run verify-env and return its report (status not settled yet; finishReport
/// does that). Bad input (no current model file, unreadable data set, a
/// corrupt lock) is an Error; everything else is a check.
Expected<Report> verifyEnv(const ToolContext& ctx, const VerifyEnvOptions& options);

/// env.drift.<part> for every fingerprint part, against the lock's parts.
/// Unchanged parts pass without severity; a drifted severe part fails, a
/// drifted minor part passes with severity "minor"; detail {before, after}.
std::vector<Check> driftChecks(const Fingerprint& now, const nlohmann::json& lockParts);

/// One drift check of a named value (also used for config and data set).
Check driftCheck(const std::string& part, const nlohmann::json& before, const nlohmann::json& after,
                 DriftSeverity severity);

/// env.blas: pass for an optimised BLAS, fail for the reference (netlib) one,
/// inconclusive when no BLAS could be identified.
Check blasCheck(const Fingerprint& fp);

/// env.threads: intra-op threads against the cores this process may use.
Check threadsCheck(int intraOpThreads, int cores);

/// The human view of a verify-env report (--format text): a table of the
/// checks, the baseline KPIs and the fingerprint. Same data as the JSON.
std::string renderText(const Report& r);

/// Write the report as `format` to ctx's --out and publish the JSON with
/// --publish; the text view goes where the JSON would. Returns the exit code.
Expected<int> finishEnvReport(const ToolContext& ctx, Report& r, const std::string& format);

}  // namespace cvgate
