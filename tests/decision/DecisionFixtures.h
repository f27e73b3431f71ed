// Report fixtures for the decision tests: the five reports of a cycle built
// with the library's envelope (newReport, Check) and the check ids of
// docs/checks.md, healthy by default; tests then break one thing at a time.
#pragma once

#include <string>
#include <vector>

#include "decision/Decision.h"
#include "report/Report.h"

namespace cvgate::decisiontest {

struct Models {
  std::string current;    ///< sha256 of production
  std::string candidate;  ///< sha256 of the candidate ("" none)
};

/// A check with the fields decide reads.
Check check(const std::string& id, const std::string& subject, Outcome status, std::optional<double> value = {},
            std::optional<double> threshold = {}, std::optional<std::pair<double, double>> ci = {},
            const std::string& unit = "");

/// Healthy reports of `cycle` about `m` (finished now).
Report envReport(const std::string& cycle, const Models& m);
/// p95 of current 4 ms and candidate 6 ms, 0 errors in 2000 requests each, throughput 150/s.
Report latencyReport(const std::string& cycle, const Models& m);
/// uplift 0.055 [0.04, 0.07] against an objective of 0.03 (the test config's).
Report complianceReport(const std::string& cycle, const Models& m);
Report integrationReport(const std::string& cycle, const Models& m);
Report rollbackReport(const std::string& cycle, const Models& m);
/// All five, in reportSlots() order.
std::vector<Report> cycleReports(const std::string& cycle, const Models& m);

/// Make production's check `id` a confident breach: status fail and counts
/// that breach at 99 % (latency.p95, latency.error_rate, compliance.error_rate,
/// compliance.regression), or status fail (env.golden, env.model_hash).
void breach(Report& r, const std::string& id);

/// Replace the status (and optionally need) of check (id, subject) in `r`.
void setCheck(Report& r, const std::string& id, const std::string& subject, Outcome status,
              const json& need = nullptr, const std::string& message = "");

/// Policy input from reports held in memory (as if read from the feeds).
decision::PolicyInput inputFrom(const std::vector<Report>& reports, const decision::RegistryFacts& facts,
                                const std::string& cycle);

/// Registry facts for a healthy registry: current, candidate staged and verified, a known-good.
decision::RegistryFacts healthyRegistry(const Models& m, const std::string& knownGood);

/// The objectives and [decision] of the test configs.
Objectives testObjectives();

/// Write `size` pseudo-random bytes (seeded) to `path`; returns their sha256.
std::string writeFakeModel(const std::string& path, unsigned seed, std::size_t size = 16 * 1024);

}  // namespace cvgate::decisiontest
