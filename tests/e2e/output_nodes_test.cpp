// Every output a tool writes on request goes through to the node the user
// named: a FIFO with a reader gets the report, a symlink's target gets it and
// the link stays a link, and (as root) a private character device made with
// mknod stays that device. Never is the node replaced by a regular file, as
// `verify-env -o /dev/null` once replaced /dev/null. Nothing here touches a
// node outside the test's temporary directory.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "RollbackTestUtil.h"
#include "TempDir.h"
#include "ToolRun.h"

namespace fs = std::filesystem;
using cvgate::testing::slurp;

namespace {

struct Output {
  std::string tool;
  std::string args;    ///< the tool's other arguments
  std::string option;  ///< the output option, e.g. "--out"
};

class OutputNodes : public ::testing::Test {
 protected:
  void SetUp() override {
    cvgate::rbtest::writeTinyIdx(t_.path(), 16);
    cvgate::rbtest::writeTwoModels(t_.path());
    cfg_ = cvgate::rbtest::writeConfig(
        t_.path(), "",
        "[latency]\nscenario = \"single-stream\"\nduration_s = 0.2\nmin_samples = 20\nsearch_throughput = false\n"
        "profile_iterations = 2\nwarmup_max_s = 0.2\n"
        "[compliance]\nbootstrap_resamples = 100\nmin_per_class = 1\n");
    // A registry with a known-good model, for simulate-rollback.
    for (const std::string& cmd : {"init " + t_.file("v1.pt"), "stage " + t_.file("v2.pt"), std::string("deploy")})
      ASSERT_EQ(tool("model-registry", cmd).code, 0) << cmd;
    // train-model's data: the tiny IDX pair as both its training and its test files.
    fs::create_directories(t_.file("train"));
    for (const char* split : {"train", "t10k"}) {
      fs::create_symlink(t_.file("images.idx"), t_.file("train/" + std::string(split) + "-images-idx3-ubyte"));
      fs::create_symlink(t_.file("labels.idx"), t_.file("train/" + std::string(split) + "-labels-idx1-ubyte"));
    }
    // model-registry's two writers: a manifest from a transform, and an archive with it embedded.
    { std::ofstream(t_.file("labels.txt")) << "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n"; }
    ASSERT_EQ(tool("model-registry", manifestArgs() + " --out " + t_.file("m.json")).code, 0);
  }

  std::string manifestArgs() const {
    return "manifest --name nodes --input 1x28x28 --labels " + t_.file("labels.txt") +
           " --transform \"Resize((28, 28)), ToTensor(), Normalize(mean=[0.5], std=[0.25])\"";
  }

  cvgate::testing::ToolRun tool(const std::string& name, const std::string& args) {
    // train-model reads no config: it trains from its own flags.
    const std::string config = name == "train-model" ? "" : "--config " + cfg_ + " ";
    return cvgate::testing::runTool(name, config + "--log-level error " + args, t_.path());
  }

  /// The outputs of every tool (their other arguments keep the run short).
  std::vector<Output> outputs() const {
    const std::string models = "--current " + t_.file("v1.pt") + " --candidate " + t_.file("v2.pt");
    return {
        {"verify-env", models, "--out"},
        {"eval-compliance", models, "--out"},
        {"eval-compliance", models, "--html"},
        {"eval-compliance", models + " --shard 0/1", "--outcomes-out"},
        {"profile-latency", models, "--out"},
        {"profile-latency", models, "--chrome-trace"},
        {"check-integration", models, "--out"},
        {"simulate-rollback", "", "--out"},
        {"decide", "--dry-run", "--out"},
        {"decide", "--dry-run", "--html"},
        {"decide", "--dry-run", "--prom"},
        {"decide", "--dry-run", "--verdict-md"},
        {"model-registry", manifestArgs(), "--out"},
        {"model-registry", "embed " + t_.file("v1.pt") + " " + t_.file("m.json"), "--out"},
        {"train-model", "--arch mlp --name nodes --epochs 1 --hidden 8 --data-dir " + t_.file("train"), "--out"},
    };
  }

  cvgate::testing::TempDir t_;
  std::string cfg_;
};

bool exitedWithAReport(int code) { return code == 0 || code == 10 || code == 11 || code == 20; }

TEST_F(OutputNodes, AFifoWithAReaderReceivesEveryOutput) {
  int n = 0;
  for (const auto& o : outputs()) {
    const std::string fifo = t_.file("out" + std::to_string(++n) + ".fifo");
    const std::string got = fifo + ".received";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    // The reader first: `cat` holds the FIFO open until the writer closes it.
    ASSERT_EQ(std::system(("cat '" + fifo + "' >'" + got + "' &").c_str()), 0);
    auto r = tool(o.tool, o.args + " " + o.option + " " + fifo);
    EXPECT_TRUE(exitedWithAReport(r.code)) << o.tool << " " << o.option << ": " << r.err;
    for (int i = 0; i < 500 && slurp(got).empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_FALSE(slurp(got).empty()) << o.tool << " " << o.option << " wrote nothing to the FIFO";
    struct stat st {};
    ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
    EXPECT_TRUE(S_ISFIFO(st.st_mode)) << o.tool << " " << o.option << " replaced the FIFO";
  }
}

TEST_F(OutputNodes, ASymlinkIsFollowedAndStaysALink) {
  int n = 0;
  for (const auto& o : outputs()) {
    const std::string target = t_.file("target" + std::to_string(++n) + ".txt");
    const std::string link = t_.file("link" + std::to_string(n));
    { std::ofstream(target) << "old\n"; }
    fs::create_symlink(target, link);
    auto r = tool(o.tool, o.args + " " + o.option + " " + link);
    EXPECT_TRUE(exitedWithAReport(r.code)) << o.tool << " " << o.option << ": " << r.err;
    EXPECT_TRUE(fs::is_symlink(link)) << o.tool << " " << o.option << " replaced the symlink";
    EXPECT_EQ(fs::read_symlink(link), target);
    const std::string text = slurp(target);
    EXPECT_NE(text, "old\n") << o.tool << " " << o.option << " did not write through the link";
    EXPECT_GT(text.size(), 10u);
  }
}

TEST_F(OutputNodes, ACharacterDeviceStaysThatDevice) {
  if (::geteuid() != 0) GTEST_SKIP() << "mknod needs root; the FIFO and symlink tests still run";
  int n = 0;
  for (const auto& o : outputs()) {
    // A private null device (major 1, minor 3) in the temporary directory.
    const std::string dev = t_.file("null" + std::to_string(++n));
    ASSERT_EQ(::mknod(dev.c_str(), S_IFCHR | 0666, makedev(1, 3)), 0) << std::strerror(errno);
    struct stat before {};
    ASSERT_EQ(::lstat(dev.c_str(), &before), 0);
    auto r = tool(o.tool, o.args + " " + o.option + " " + dev);
    EXPECT_TRUE(exitedWithAReport(r.code)) << o.tool << " " << o.option << ": " << r.err;
    struct stat st {};
    ASSERT_EQ(::lstat(dev.c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode)) << o.tool << " " << o.option << " replaced the device with a file";
    EXPECT_EQ(st.st_rdev, makedev(1, 3));
    EXPECT_EQ(st.st_mode, before.st_mode);
    EXPECT_EQ(st.st_ino, before.st_ino) << o.tool << " " << o.option << ": another node in its place";
  }
}

TEST_F(OutputNodes, TheStateDirectoryRefusesANodeInPlaceOfItsFile) {
  // decide's own deployment_verdict.md in the state directory is a state
  // file: a symlink planted there is an error naming it, not a target.
  const std::string state = t_.file("var");
  const std::string target = t_.file("elsewhere.md");
  { std::ofstream(target) << "keep\n"; }
  fs::remove(state + "/deployment_verdict.md");
  fs::create_symlink(target, state + "/deployment_verdict.md");
  auto r = tool("decide", "--dry-run");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("deployment_verdict.md': a symlink where cvgate keeps a state file"), std::string::npos)
      << r.err;
  EXPECT_EQ(slurp(target), "keep\n");
}

}  // namespace
