#include "latency/LoadGen.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "common/Cpus.h"
#include "common/Strings.h"
#include "stats/Stats.h"

namespace cvgate::latency {

using Clock = std::chrono::steady_clock;

namespace {
double msBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
Clock::time_point addMs(Clock::time_point t, double ms) {
  return t + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(ms));
}
std::string classify(const std::string& error) {
  if (error.rfind("exception", 0) == 0) return "exception";
  if (error.find("non-finite") != std::string::npos) return "non-finite";
  if (error.find("shape") != std::string::npos || error.find("type") != std::string::npos) return "wrong-shape";
  return "other";
}
void fill(RequestRecord& r, const Completion& c, int batch) {
  r.preprocessMs = c.preprocessMs;
  r.forwardMs = c.forwardMs;
  r.postprocessMs = c.postprocessMs;
  r.batch = batch;
  r.ok = c.ok;
  if (!c.ok) r.errorKind = classify(c.error);
}
}  // namespace

std::string toString(Scenario s) {
  switch (s) {
    case Scenario::SingleStream: return "single-stream";
    case Scenario::Server: return "server";
    case Scenario::Offline: return "offline";
  }
  return "server";
}

Expected<Scenario> parseScenario(const std::string& s) {
  if (s == "single-stream") return Scenario::SingleStream;
  if (s == "server") return Scenario::Server;
  if (s == "offline") return Scenario::Offline;
  return badInput("scenario '" + s + "': expected single-stream, server, offline or all" +
                  didYouMean(s, {"single-stream", "server", "offline", "all"}));
}

Expected<std::vector<Scenario>> parseScenarios(const std::string& s) {
  if (s == "all") return std::vector<Scenario>{Scenario::SingleStream, Scenario::Server, Scenario::Offline};
  CVGATE_TRY_ASSIGN(one, parseScenario(s));
  return std::vector<Scenario>{one};
}

std::vector<double> RunResult::sortedLatencies() const {
  std::vector<double> v;
  v.reserve(requests.size());
  for (const auto& r : requests) v.push_back(r.latencyMs());
  std::sort(v.begin(), v.end());
  return v;
}

namespace {

struct Queued {
  std::size_t index;
};

/// Server and offline: a queue fed by the generator (server) or pre-filled
/// (offline), drained by `workers` threads in batches.
/// CPU seconds the calling thread has used.
double threadCpuS() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

/// Returns the generator thread's CPU seconds (0 offline).
double runPool(SystemUnderTest& sut, const TestSettings& s, std::vector<RequestRecord>& recs,
               Clock::time_point t0, bool offline) {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::size_t> q;
  bool done = false;
  const std::size_t n = recs.size();
  const std::size_t inputs = std::max<std::size_t>(1, sut.inputCount());
  if (offline) {
    for (std::size_t i = 0; i < n; ++i) q.push_back(i);
    done = true;
  }
  auto worker = [&]() {
    std::vector<std::size_t> batch, idx;
    for (;;) {
      batch.clear();
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return !q.empty() || done; });
        if (q.empty()) return;
        if (!offline && s.maxBatch > 1 && s.batchWindowMs > 0) {
          // Dynamic batching: wait up to the window (from the first request's
          // enqueue) for the batch to fill.
          const auto deadline = addMs(t0, recs[q.front()].issuedMs + s.batchWindowMs);
          while (q.size() < static_cast<std::size_t>(s.maxBatch) && !done &&
                 cv.wait_until(lock, deadline) != std::cv_status::timeout) {
          }
          if (q.empty()) continue;
        }
        // A request whose deadline passed while it queued is shed, as a
        // server with request deadlines does: an error either way, and
        // running it would only delay the ones behind it. So a saturated run
        // ends about a deadline after its last arrival instead of draining a
        // backlog that grows with the run.
        const double nowMs = msBetween(t0, Clock::now());
        while (!q.empty() && batch.size() < static_cast<std::size_t>(s.maxBatch)) {
          const std::size_t i = q.front();
          q.pop_front();
          if (!offline && nowMs - recs[i].scheduledMs > s.deadlineMs) {
            RequestRecord& r = recs[i];
            r.startMs = r.endMs = nowMs;
            r.ok = false;
            r.shed = true;
            r.errorKind = "deadline";
            continue;
          }
          batch.push_back(i);
        }
        if (batch.empty()) continue;
      }
      const auto start = Clock::now();
      idx.clear();
      for (std::size_t i : batch) idx.push_back(i % inputs);
      std::vector<Completion> comps = sut.issue(idx);
      const auto end = Clock::now();
      const double startMs = msBetween(t0, start), endMs = msBetween(t0, end);
      for (std::size_t k = 0; k < batch.size(); ++k) {
        RequestRecord& r = recs[batch[k]];
        r.startMs = startMs;
        r.endMs = endMs;
        if (k < comps.size()) fill(r, comps[k], static_cast<int>(batch.size()));
        else r.errorKind = "other";
      }
    }
  };
  std::vector<std::thread> pool;
  for (int w = 0; w < s.workers; ++w) pool.emplace_back(worker);
  double generatorCpuS = 0;
  if (!offline) {
    const double cpu0 = threadCpuS();
    // The generator: enqueue every request that is due, then sleep to the next.
    std::size_t i = 0;
    while (i < n) {
      const auto due = addMs(t0, recs[i].scheduledMs);
      if (Clock::now() < due) std::this_thread::sleep_until(due);
      {
        std::lock_guard<std::mutex> lock(mu);
        const auto now = Clock::now();
        const double nowMs = msBetween(t0, now);
        while (i < n && recs[i].scheduledMs <= nowMs) {
          recs[i].issuedMs = nowMs;
          q.push_back(i);
          ++i;
        }
      }
      cv.notify_all();
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      done = true;
    }
    cv.notify_all();
    generatorCpuS = threadCpuS() - cpu0;
  }
  for (auto& t : pool) t.join();
  return generatorCpuS;
}

void runSingleStream(SystemUnderTest& sut, const TestSettings& s, std::vector<RequestRecord>& recs,
                     Clock::time_point t0) {
  const std::size_t inputs = std::max<std::size_t>(1, sut.inputCount());
  const double minMs = s.durationS * 1000.0, capMs = 4.0 * minMs + 1000.0;
  for (std::size_t i = 0;; ++i) {
    const double nowMs = msBetween(t0, Clock::now());
    if ((i >= s.minSamples && nowMs >= minMs) || (i >= s.minSamples / 2 && i > 0 && nowMs >= capMs)) break;
    RequestRecord r;
    const auto start = Clock::now();
    r.scheduledMs = r.issuedMs = r.startMs = msBetween(t0, start);
    auto comps = sut.issue({i % inputs});
    r.endMs = msBetween(t0, Clock::now());
    if (!comps.empty()) fill(r, comps[0], 1);
    else r.errorKind = "other";
    recs.push_back(std::move(r));
  }
}

}  // namespace

Expected<RunResult> runScenario(SystemUnderTest& sut, const TestSettings& s) {
  if (!(s.offeredRps > 0) || !std::isfinite(s.offeredRps))
    return badInput("offered rate '" + fmtNum(s.offeredRps) + "': expected a positive number of requests/s");
  if (s.workers < 1) return badInput("workers '" + std::to_string(s.workers) + "': expected at least 1");
  if (s.maxBatch < 1) return badInput("max batch '" + std::to_string(s.maxBatch) + "': expected at least 1");
  if (s.minSamples < 1) return badInput("min samples: expected at least 1");
  RunResult res;
  res.settings = s;
  const auto t0 = Clock::now() + std::chrono::milliseconds(2);
  if (s.scenario == Scenario::SingleStream) {
    runSingleStream(sut, s, res.requests, t0);
  } else {
    std::size_t n = s.minSamples;
    if (s.scenario == Scenario::Server)
      n = std::max(n, static_cast<std::size_t>(std::ceil(s.offeredRps * s.durationS)));
    else
      n = std::max<std::size_t>(n, 1024);
    res.requests.resize(n);
    if (s.scenario == Scenario::Server) {
      // A Poisson process at the offered rate conditioned on its n-th arrival
      // at n / rate: exponential gaps scaled to that sum (uniform spacings), so
      // the run delivers the rate it reports. A raw draw of n gaps from one
      // seed is the same draw at every rate, off the offered rate by its own
      // sampling error: at seed 1, +6 to +15 % for the 88-228 arrivals of a
      // short search run (every search step stressed above the rate it
      // reported) and -4 % for the gate's 2,000.
      std::mt19937_64 rng(s.seed);
      std::exponential_distribution<double> gap(1.0);
      double t = 0;
      for (auto& r : res.requests) {
        t += gap(rng);
        r.scheduledMs = t;
      }
      // (t is 0 only if every gap drew 0: then all arrive at the n-th's time.)
      const double lastMs = static_cast<double>(n) * 1000.0 / s.offeredRps;
      for (auto& r : res.requests) r.scheduledMs = t > 0 ? r.scheduledMs * (lastMs / t) : lastMs;
    }
    res.generatorCpuS = runPool(sut, s, res.requests, t0, s.scenario == Scenario::Offline);
  }
  // Bookkeeping after the clock stopped.
  const std::size_t n = res.requests.size();
  double lastEnd = 0, firstSched = n ? res.requests.front().scheduledMs : 0, lastSched = 0;
  double batchSum = 0;
  std::vector<double> delays, x, y;
  for (auto& r : res.requests) {
    if (r.ok && r.latencyMs() > s.deadlineMs) {
      r.ok = false;
      r.errorKind = "deadline";
    }
    if (!r.ok) {
      ++res.errors;
      ++res.errorKinds[r.errorKind.empty() ? "other" : r.errorKind];
    }
    if (r.shed) ++res.shed;
    lastEnd = std::max(lastEnd, r.endMs);
    lastSched = std::max(lastSched, r.scheduledMs);
    firstSched = std::min(firstSched, r.scheduledMs);
    batchSum += r.batch;
    delays.push_back(r.issuedMs - r.scheduledMs);
    x.push_back(r.scheduledMs / 1000.0);
    y.push_back(r.latencyMs());
  }
  res.elapsedS = std::max(1e-9, (lastEnd - std::min(0.0, firstSched)) / 1000.0);
  if (s.scenario == Scenario::SingleStream) res.elapsedS = std::max(1e-9, (lastEnd - firstSched) / 1000.0);
  res.achievedRps = static_cast<double>(n - res.shed) / res.elapsedS;
  res.generatorCoreFraction = res.generatorCpuS / res.elapsedS;
  res.cores = affinityCores();
  res.meanBatch = n > res.shed ? batchSum / static_cast<double>(n - res.shed) : 0;
  if (s.scenario == Scenario::Server && lastSched > 0) {
    res.arrivalRps = static_cast<double>(n) / (lastSched / 1000.0);
    std::sort(delays.begin(), delays.end());
    res.issueDelayP99Ms = stats::quantileCI(delays, 0.99, 0.95).value;
    if (res.issueDelayP99Ms > s.maxIssueDelayMs) {
      res.valid = false;
      res.invalidReason = "the load generator fell behind: issue delay p99 " + fmtNum(res.issueDelayP99Ms, 2) +
                          " ms > " + fmtNum(s.maxIssueDelayMs, 2) + " ms";
    }
    auto fit = stats::linearFit(x, y);
    res.growthMsPerS = std::isfinite(fit.slope) ? fit.slope : 0.0;
    // Saturation: completions cannot keep up with arrivals and latency grows over the run.
    const double ratio = res.achievedRps / res.arrivalRps;
    const std::size_t tenth = std::max<std::size_t>(1, n / 10);
    std::vector<double> head(y.begin(), y.begin() + static_cast<std::ptrdiff_t>(tenth));
    std::vector<double> tail(y.end() - static_cast<std::ptrdiff_t>(tenth), y.end());
    const double mh = stats::median(head), mt = stats::median(tail);
    if (ratio < 0.95 && res.growthMsPerS > 0 && mt > 2 * mh) {
      res.saturated = true;
      res.saturationReason = "offered load above capacity: completed " + fmtNum(res.achievedRps, 1) +
                             "/s of " + fmtNum(res.arrivalRps, 1) + "/s arriving, latency grew from " +
                             fmtNum(mh, 2) + " ms to " + fmtNum(mt, 2) + " ms (" +
                             fmtNum(res.growthMsPerS, 1) + " ms per s)";
    } else if (ratio < 0.95 && res.shed > n / 20) {
      // Shedding caps latency at the deadline, so the backlog shows as
      // requests dropped rather than as latency growing to the end.
      res.saturated = true;
      res.saturationReason = "offered load above capacity: completed " + fmtNum(res.achievedRps, 1) +
                             "/s of " + fmtNum(res.arrivalRps, 1) + "/s arriving; " + std::to_string(res.shed) +
                             " of " + std::to_string(n) + " requests waited past the " +
                             fmtNum(s.deadlineMs, 0) + " ms deadline and were shed";
    }
  }
  return res;
}

WarmupResult warmup(SystemUnderTest& sut, int maxBatch, double maxSeconds) {
  WarmupResult w;
  const auto t0 = Clock::now();
  const std::size_t window = 10;
  const std::size_t inputs = std::max<std::size_t>(1, sut.inputCount());
  std::vector<double> prev, cur;
  double prevMed = -1;
  std::vector<std::size_t> big;
  for (int k = 0; k < std::max(1, maxBatch); ++k) big.push_back(static_cast<std::size_t>(k) % inputs);
  std::size_t windows = 0;
  while (msBetween(t0, Clock::now()) < maxSeconds * 1000.0) {
    // Alternate the two shapes the server sees most: one request and a full batch.
    const auto a = Clock::now();
    sut.issue({w.calls % inputs});
    if (maxBatch > 1) sut.issue(big);
    cur.push_back(msBetween(a, Clock::now()));
    ++w.calls;
    if (cur.size() == window) {
      const double med = stats::median(cur);
      ++windows;
      w.settledMs = med;
      if (windows >= 3 && prevMed > 0 && std::fabs(med - prevMed) <= 0.10 * prevMed) {
        w.settled = true;
        break;
      }
      prevMed = med;
      cur.clear();
    }
  }
  w.seconds = msBetween(t0, Clock::now()) / 1000.0;
  return w;
}

double currentRssBytes() {
  std::ifstream f("/proc/self/statm");
  double size = 0, resident = 0;
  if (!(f >> size >> resident)) return 0;
  return resident * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

double processPeakRssBytes() {
  struct rusage ru {};
  if (::getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return static_cast<double>(ru.ru_maxrss) * 1024.0;
}

RssSampler::RssSampler(double periodMs) : periodMs_(periodMs) {
  thread_ = new std::thread([this] { loop(); });
}
RssSampler::~RssSampler() { stop(); }
void RssSampler::stop() {
  if (!thread_) return;
  stop_ = true;
  auto* t = static_cast<std::thread*>(thread_);
  t->join();
  delete t;
  thread_ = nullptr;
}
void RssSampler::loop() {
  const auto t0 = Clock::now();
  while (!stop_) {
    t_.push_back(msBetween(t0, Clock::now()) / 1000.0);
    rss_.push_back(currentRssBytes());
    std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(periodMs_));
  }
}

}  // namespace cvgate::latency
