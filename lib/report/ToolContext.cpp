#include "report/ToolContext.h"

#include <spdlog/spdlog.h>

#include "common/Fs.h"
#include "common/Limits.h"
#include "common/Time.h"
#include "report/Feed.h"

namespace cvgate {

Expected<ToolContext> openToolContext(const std::string& tool, const CommonOptions& opts) {
  ToolContext ctx;
  ctx.tool = tool;
  ctx.options = opts;
  CVGATE_TRY_ASSIGN(cfg, loadConfig(resolveConfigPath(opts.config)));
  ctx.config = std::move(cfg);
  setLimits(ctx.config.limits);
  if (!opts.current.empty()) ctx.config.models.current = opts.current;
  if (!opts.candidate.empty()) ctx.config.models.candidate = opts.candidate == "none" ? "" : opts.candidate;
  if (!opts.currentSha256.empty()) ctx.config.models.currentSha256 = opts.currentSha256;
  if (!opts.candidateSha256.empty()) ctx.config.models.candidateSha256 = opts.candidateSha256;
  ctx.stateDir = opts.stateDir.empty() ? ctx.config.stateDir : opts.stateDir;
  ctx.config.stateDir = ctx.stateDir;
  ctx.cycleId = resolveCycleId(opts.cycle);
  if (!isValidCycleId(ctx.cycleId))
    return badInput("cycle id '" + ctx.cycleId + "': expected 1-64 of [A-Za-z0-9._-]");
  return ctx;
}

Report startReport(const ToolContext& ctx, const std::string& kind) {
  Report r = newReport(ctx.tool, kind, ctx.cycleId);
  r.inputs["config_sha256"] = ctx.config.sha256;
  return r;
}

Expected<int> finishReport(const ToolContext& ctx, Report& r) {
  return finishReport(ctx, r, [](const Report& rep) { return toJson(rep).dump(2) + "\n"; });
}

Expected<int> finishReport(const ToolContext& ctx, Report& r, const ReportRenderer& render) {
  r.finishedAt = nowIsoUtc();
  r.settleStatus();  // error when r.error is set, else the worst check
  CVGATE_TRY(writeOutputFile(ctx.options.out, render(r)));
  if (ctx.options.publish) {
    CVGATE_TRY_ASSIGN(path, publishReport(ctx.stateDir, r));
    spdlog::info("published {}", path);
    CVGATE_TRY_ASSIGN(channel, channelForSchema(r.schema));
    CVGATE_TRY(retainFeed(ctx.stateDir, channel, ctx.config.feeds.retainCycles));
  }
  return exitCodeFor(r.status);
}

}  // namespace cvgate
