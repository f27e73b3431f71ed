// The deployment every end-to-end rollback test starts from: a temp dir with
// a tiny data set, two fixture models (v1, v2), a config, and helpers that
// run model-registry and simulate-rollback on it.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "RollbackTestUtil.h"
#include "TempDir.h"
#include "report/ToolContext.h"
#include "rollback/Operator.h"

namespace cvgate::rbtest {

class E2E : public ::testing::Test {
 protected:
  void SetUp() override {
    writeTinyIdx(t_.path(), 16);
    writeTwoModels(t_.path());
    cfg_ = writeConfig(t_.path());
  }
  std::string dir() const { return t_.path(); }
  std::string state() const { return t_.path() + "/var"; }
  std::string reg() const { return t_.path() + "/var/registry"; }
  std::string v1() const { return t_.path() + "/v1.pt"; }
  std::string v2() const { return t_.path() + "/v2.pt"; }
  /// model-registry with this deployment's config and state dir.
  RunResult mr(const std::string& args, const std::string& config = "") {
    return run(bin("model-registry") + " --config " + (config.empty() ? cfg_ : config) + " --state-dir " + state() +
                   " --log-level warn " + args,
               t_.path());
  }
  RunResult drill(const std::string& args = "", const std::string& config = "") {
    return run(bin("simulate-rollback") + " --config " + (config.empty() ? cfg_ : config) + " --state-dir " +
                   state() + " --log-level warn --cycle drill-1 " + args,
               t_.path());
  }
  /// A model-registry command run in this process (the library behind the
  /// tool, which ModelRegistryE2ETest runs as a binary): set-up without the
  /// cost of starting a torch process per step.
  void setup(const std::string& name, const std::string& model = "", const std::string& config = "") {
    CommonOptions o;
    o.config = config.empty() ? cfg_ : config;
    o.stateDir = state();
    o.cycle = "setup-" + name;
    auto ctx = openToolContext("model-registry", o);
    ASSERT_TRUE(ctx.ok()) << ctx.error().message();
    RegistryCommand c;
    c.name = name;
    c.model = model;
    auto r = runRegistryCommand(*ctx, c);
    ASSERT_TRUE(r.ok()) << r.error().message();
    ASSERT_EQ(r->exitCode, 0);
  }
  /// V1 adopted, V2 staged and deployed: V2 current, V1 the known-good target.
  void deployV2OverV1() {
    setup("init", v1());
    setup("stage", v2());
    setup("deploy");
  }

  testing::TempDir t_;
  std::string cfg_;
};

}  // namespace cvgate::rbtest
