#include "runtime/config/config.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fs.h"

namespace kata::config {
namespace {

std::string errorOf(std::string_view text, const std::string& source = "test.toml") {
  try {
    parseConfig(text, source);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    return e.what();
  }
  ADD_FAILURE() << "accepted:\n" << text;
  return {};
}

class ConfigFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kata-config-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fd_ = openDir(dir_);
  }
  void TearDown() override { removeTree(AT_FDCWD, dir_); }
  std::string write(const std::string& name, const std::string& text) {
    writeFileAtomic(fd_.get(), name, text);
    return dir_ + "/" + name;
  }
  std::string dir_;
  UniqueFd fd_;
};

TEST(Config, EmbeddedDefaultIsTheShippedFileAndTheStructDefaults) {
  std::string shipped = readFile(std::string(KATA_SOURCE_DIR) + "/runtime/config/configuration.toml", 1 << 20);
  EXPECT_EQ(embeddedDefaultConfig(), shipped);
  RuntimeConfig parsed = parseConfig(embeddedDefaultConfig(), "default");
  EXPECT_EQ(parsed, RuntimeConfig{});
  EXPECT_EQ(parsed.hypervisor.path, "/usr/bin/qemu-system-x86_64");
  EXPECT_EQ(parsed.hypervisor.accel, Accel::kAuto);
  EXPECT_EQ(parsed.agent.transport, AgentTransport::kAuto);
  EXPECT_EQ(parsed.runtime.vmmdSocket, "/run/kata-vmmd/vmmd.sock");
  EXPECT_EQ(parsed.runtime.stateStore, StateStoreKind::kFilesystem);
}

TEST(Config, EveryOptionCanBeSet) {
  RuntimeConfig c = parseConfig(R"(
[hypervisor]
path = "/opt/qemu/bin/qemu-system-x86_64"
accel = "tcg"
machine_type = "pc-q35-7.2"
default_vcpus = 4
default_memory_mib = 4096
guest_image = "/k/guest"
kernel_params = "quiet console=hvc0"
shared_fs = "virtio-fs"
virtiofsd = "/usr/lib/qemu/virtiofsd"
[agent]
transport = "virtio-serial"
dial_timeout_ms = 1500
[network]
model = "macvtap"
queues = 4
[runtime]
vmmd_socket = "/run/other.sock"
state_store = "leveldb"
log_level = "debug"
)",
                                "x.toml");
  EXPECT_EQ(c.source, "x.toml");
  EXPECT_EQ(c.hypervisor.path, "/opt/qemu/bin/qemu-system-x86_64");
  EXPECT_EQ(c.hypervisor.accel, Accel::kTcg);
  EXPECT_EQ(c.hypervisor.machineType, "pc-q35-7.2");
  EXPECT_EQ(c.hypervisor.defaultVcpus, 4);
  EXPECT_EQ(c.hypervisor.defaultMemoryMib, 4096);
  EXPECT_EQ(c.hypervisor.guestImage, "/k/guest");
  EXPECT_EQ(c.hypervisor.kernelParams, "quiet console=hvc0");
  EXPECT_EQ(c.hypervisor.sharedFs, SharedFs::kVirtioFs);
  EXPECT_EQ(c.hypervisor.virtiofsd, "/usr/lib/qemu/virtiofsd");
  EXPECT_EQ(c.agent.transport, AgentTransport::kVirtioSerial);
  EXPECT_EQ(c.agent.dialTimeoutMs, 1500);
  EXPECT_EQ(c.network.model, NetworkModel::kMacvtap);
  EXPECT_EQ(c.network.queues, 4);
  EXPECT_EQ(c.runtime.vmmdSocket, "/run/other.sock");
  EXPECT_EQ(c.runtime.stateStore, StateStoreKind::kLevelDb);
  EXPECT_EQ(c.runtime.logLevel, "debug");
}

TEST(Config, OmittedOptionsKeepDefaults) {
  RuntimeConfig c = parseConfig("[hypervisor]\naccel = \"kvm\"\n", "x.toml");
  RuntimeConfig expected;
  expected.hypervisor.accel = Accel::kKvm;
  EXPECT_EQ(c, expected);
  EXPECT_EQ(parseConfig("", "empty.toml"), RuntimeConfig{});
}

TEST(Config, ErrorsNameFileLineKeyAndReason) {
  EXPECT_EQ(errorOf("[hypervisor]\naccel = \"xen\"\n"),
            "test.toml:2: hypervisor.accel: must be one of \"auto\", \"kvm\", \"tcg\", got \"xen\"");
  EXPECT_EQ(errorOf("[hypervisor]\npath = \"/q\"\n\nvcpus = 2\n"),
            "test.toml:4: hypervisor.vcpus: unknown option (see docs/configuration.md for the valid ones)");
  EXPECT_EQ(errorOf("[hypervisor]\ndefault_vcpus = 0\n"), "test.toml:2: hypervisor.default_vcpus: must be between 1 and 255, got 0");
  EXPECT_EQ(errorOf("[hypervisor]\ndefault_memory_mib = \"2G\"\n"), "test.toml:2: hypervisor.default_memory_mib: must be an integer");
  EXPECT_EQ(errorOf("[hypervisor]\nguest_image = \"guest\"\n"),
            "test.toml:2: hypervisor.guest_image: must be an absolute path, got \"guest\"");
  EXPECT_EQ(errorOf("[hypervisor]\nshared_fs = \"nfs\"\n"),
            "test.toml:2: hypervisor.shared_fs: must be one of \"virtio-9p\", \"virtio-fs\", got \"nfs\"");
  EXPECT_EQ(errorOf("[hypervisor]\nmachine_type = \"q35,accel=kvm\"\n"),
            "test.toml:2: hypervisor.machine_type: may contain only letters, digits, '.', '-' and '_'");
  EXPECT_EQ(errorOf("[agent]\ntransport = \"tcp\"\n"),
            "test.toml:2: agent.transport: must be one of \"auto\", \"virtio-serial\", \"vsock\", got \"tcp\"");
  EXPECT_EQ(errorOf("[runtime]\nstate_store = \"sqlite\"\n"),
            "test.toml:2: runtime.state_store: must be one of \"filesystem\", \"leveldb\", got \"sqlite\"");
  EXPECT_EQ(errorOf("[runtime]\nlog_level = \"loud\"\n"),
            "test.toml:2: runtime.log_level: must be one of \"trace\", \"debug\", \"info\", \"warn\", \"error\", got \"loud\"");
  EXPECT_NE(errorOf("[runtime]\nvmmd_socket = \"/" + std::string(120, 's') + "\"\n").find("too long for a unix socket"),
            std::string::npos);
  EXPECT_NE(errorOf("[storage]\nx = 1\n").find("storage: unknown table"), std::string::npos);
  EXPECT_EQ(errorOf("[network]\nmodel = \"bridge\"\n"),
            "test.toml:2: network.model: must be one of \"tcfilter\", \"macvtap\", got \"bridge\"");
  EXPECT_NE(errorOf("[network]\nqueues = 17\n").find("network.queues"), std::string::npos);
  EXPECT_NE(errorOf("log_level = \"info\"\n").find("log_level: unknown option"), std::string::npos);
  EXPECT_NE(errorOf("hypervisor = 3\n").find("hypervisor: must be a table"), std::string::npos);
  std::string syntax = errorOf("[hypervisor\n");
  EXPECT_NE(syntax.find("test.toml: not valid TOML"), std::string::npos) << syntax;
}

TEST_F(ConfigFiles, LoadOrderFlagThenEnvThenSystemThenEmbedded) {
  std::string flag = write("flag.toml", "[hypervisor]\ndefault_vcpus = 2\n");
  std::string env = write("env.toml", "[hypervisor]\ndefault_vcpus = 3\n");
  std::string sys = write("sys.toml", "[hypervisor]\ndefault_vcpus = 4\n");
  ConfigSources s;
  s.flagPath = flag;
  s.envPath = env;
  s.systemPath = sys;
  EXPECT_EQ(loadConfig(s).hypervisor.defaultVcpus, 2);
  EXPECT_EQ(loadConfig(s).source, flag);
  s.flagPath.reset();
  EXPECT_EQ(loadConfig(s).hypervisor.defaultVcpus, 3);
  s.envPath.reset();
  EXPECT_EQ(loadConfig(s).hypervisor.defaultVcpus, 4);
  s.systemPath = dir_ + "/absent.toml";
  RuntimeConfig c = loadConfig(s);
  EXPECT_EQ(c, RuntimeConfig{});
  EXPECT_EQ(c.source, RuntimeConfig::kEmbeddedSource);
}

TEST_F(ConfigFiles, ExplicitlyNamedMissingFilesAreErrors) {
  ConfigSources s;
  s.systemPath = dir_ + "/absent.toml";
  s.flagPath = dir_ + "/nope.toml";
  try {
    loadConfig(s);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
    EXPECT_EQ(std::string(e.what()), "configuration file " + dir_ + "/nope.toml does not exist");
  }
  s.flagPath.reset();
  s.envPath = dir_ + "/nope.toml";
  try {
    loadConfig(s);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("(named by $KATA_CTL_CONFIG)"), std::string::npos) << e.what();
  }
}

TEST_F(ConfigFiles, FileErrorsNameTheFile) {
  std::string bad = write("bad.toml", "[agent]\ndial_timeout_ms = -5\n");
  ConfigSources s;
  s.flagPath = bad;
  try {
    loadConfig(s);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), bad + ":2: agent.dial_timeout_ms: must be between 1 and 3600000, got -5");
  }
}

TEST_F(ConfigFiles, EnvironmentVariableIsRead) {
  ::setenv(kConfigEnvVar, "/some/where.toml", 1);
  EXPECT_EQ(ConfigSources::fromEnvironment(std::nullopt).envPath, "/some/where.toml");
  ::setenv(kConfigEnvVar, "", 1);
  EXPECT_EQ(ConfigSources::fromEnvironment(std::nullopt).envPath, std::nullopt);
  ::unsetenv(kConfigEnvVar);
  auto s = ConfigSources::fromEnvironment(std::string("/flag.toml"));
  EXPECT_EQ(s.flagPath, "/flag.toml");
  EXPECT_EQ(s.systemPath, kSystemConfigPath);
}

}  // namespace
}  // namespace kata::config
