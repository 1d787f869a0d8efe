// Golden-file tests for the QEMU command line. Each case builds a QemuConfig, generates argv and
// compares it, one argument per line, with tests/unit/vmmd/golden/<case>.args.
//
// To regenerate after an intended change:
//   KATA_UPDATE_GOLDEN=1 build/bin/kata-unit-tests --gtest_filter='QemuGolden*'
// then review the diff with `git diff tests/unit/vmmd/golden`.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "kata-vmmd/arch.h"
#include "kata-vmmd/qemu_config.h"

namespace kata::vmmd {
namespace {

std::string goldenPath(const std::string& name) {
  return std::string(KATA_SOURCE_DIR) + "/tests/unit/vmmd/golden/" + name + ".args";
}

void expectGoldenFile(const std::string& path, const std::string& text) {
  if (const char* update = std::getenv("KATA_UPDATE_GOLDEN"); update && std::string(update) == "1") {
    std::ofstream(path) << text;
    return;
  }
  std::ifstream in(path);
  ASSERT_TRUE(in) << path << " is missing; regenerate with KATA_UPDATE_GOLDEN=1";
  std::stringstream want;
  want << in.rdbuf();
  EXPECT_EQ(text, want.str()) << "output differs from " << path << " (KATA_UPDATE_GOLDEN=1 regenerates it)";
}

void expectGolden(const std::string& name, const std::vector<std::string>& args) {
  std::string text;
  for (const auto& a : args) text += a + "\n";
  expectGoldenFile(goldenPath(name), text);
}

// The QMP commands of a hot-plug, one per line as QemuHypervisor::hotplug sends them (a getfd line
// carries its descriptor by SCM_RIGHTS; shown as "fd": N).
std::string qmpSequence(const HotplugPlan& plan) {
  std::string out;
  for (const auto& [name, fd] : plan.fds)
    out += nlohmann::json{{"execute", "getfd"}, {"arguments", {{"fdname", name}}}, {"fd", fd}}.dump() + "\n";
  for (const auto& [cmd, args] : plan.backends) out += nlohmann::json{{"execute", cmd}, {"arguments", args}}.dump() + "\n";
  out += nlohmann::json{{"execute", "device_add"}, {"arguments", plan.deviceAdd}}.dump() + "\n";
  return out;
}

QemuConfig minimal() {
  QemuConfig c;
  c.name = "sandbox-1";
  c.accel = Accel::kTcg;
  c.vcpus = 1;
  c.memory.sizeMiB = 512;
  c.kernel.kernel = "/usr/share/kata/vmlinuz";
  c.kernel.initrd = "/usr/share/kata/initrd.img";
  c.kernel.cmdline = "quiet panic=1";
  c.qmp.path = "/run/kata-vmmd/sandbox-1/qmp.sock";
  c.consoleLogPath = "/run/kata-vmmd/sandbox-1/console.log";
  return c;
}

TEST(QemuGolden, MinimalTcg) {
  auto arch = archByName("x86_64");
  expectGolden("minimal_tcg", buildQemuArgs(minimal(), *arch));
}

TEST(QemuGolden, AllDevicesKvmSharedMemfd) {
  auto arch = archByName("x86_64");
  QemuConfig c = minimal();
  c.accel = Accel::kKvm;
  c.vcpus = 2;
  c.maxVcpus = 4;
  c.memory.sizeMiB = 2048;
  c.memory.backend = MemorySpec::Backend::kMemfd;
  c.qmp = QmpEndpoint{"", 3};
  c.hotplugRootPorts = 2;
  c.startPaused = true;
  c.devices.push_back(SerialPortDevice{"agent", "agent.channel.0", "", 4});
  c.devices.push_back(VsockDevice{"vsock0", 42, 5});
  c.devices.push_back(FsShareDevice{"shared", "/run/kata/sandbox-1/shared", "kataShared",
                                    FsShareDevice::SecurityModel::kNone, true});
  c.devices.push_back(NetDevice{"eth0", {6}, {7}, "02:42:ac:11:00:02", 1500});
  c.devices.push_back(NetDevice{"eth1", {8, 9}, {}, "02:42:ac:11:00:03", std::nullopt});
  c.devices.push_back(BlockDevice{"rootfs", "/var/lib/kata/rootfs.img", "raw", true, "ctr-rootfs"});
  c.devices.push_back(BlockDevice{"vol", "/dev/loop3", "raw", false, ""});
  c.devices.push_back(VfioDevice{"gpu0", "0000:3b:00.1"});
  c.devices.push_back(GenericDevice{"rng0", "virtio-rng-pci", {{"max-bytes", "1024"}, {"period", "1000"}}});
  expectGolden("all_devices_kvm_memfd", buildQemuArgs(c, *arch));
}

TEST(QemuGolden, SharedFileHugepagesSerialSocketPath) {
  auto arch = archByName("x86_64");
  QemuConfig c = minimal();
  c.binary = "/usr/bin/qemu-system-x86_64";
  c.cpuModel = "Skylake-Server";
  c.memory.backend = MemorySpec::Backend::kFile;
  c.memory.filePath = "/dev/hugepages";
  c.memory.hugepages = true;
  c.consoleLogPath.clear();
  c.seccompSandbox = false;
  c.devices.push_back(SerialPortDevice{"agent", "agent.channel.0", "/run/kata/sandbox-1/agent.sock", -1});
  c.devices.push_back(FsShareDevice{"shared", "/srv/share", "share", FsShareDevice::SecurityModel::kMappedXattr, false});
  expectGolden("shared_file_hugepages", buildQemuArgs(c, *arch));
}

// The sandbox manager's virtio-fs VM: guest RAM in a shared memfd (virtiofsd maps it), the share as
// a vhost-user-fs device on the connection vmmd opened to virtiofsd, the agent port as always.
TEST(QemuGolden, VirtioFsSharedMemfd) {
  auto arch = archByName("x86_64");
  QemuConfig c = minimal();
  c.memory.sizeMiB = 1024;
  c.memory.backend = MemorySpec::Backend::kMemfd;
  c.qmp = QmpEndpoint{"", 3};
  c.hotplugRootPorts = 1;
  c.devices.push_back(SerialPortDevice{"agent", "agent.channel.0", "", 4});
  c.devices.push_back(VirtioFsDevice{"share", "/run/kata-vmmd/shares/sandbox-1", "kataShared", 5, 1024});
  expectGolden("virtio_fs_memfd", buildQemuArgs(c, *arch));
}

TEST(QemuConfig, VirtioFsNeedsSharedMemoryAConnectionAndASaneQueue) {
  auto arch = archByName("x86_64");
  auto refused = [&](QemuConfig c) {
    try {
      buildQemuArgs(c, *arch);
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  QemuConfig c = minimal();
  c.devices.push_back(VirtioFsDevice{"share", "/srv/share", "kataShared", 5, 1024});
  EXPECT_NE(refused(c).find("needs guest memory in a shared backend"), std::string::npos) << refused(c);
  c.memory.backend = MemorySpec::Backend::kMemfd;
  EXPECT_EQ(refused(c), "accepted");
  std::get<VirtioFsDevice>(c.devices.back()).socketFd = -1;
  EXPECT_NE(refused(c).find("vhost-user connection to virtiofsd"), std::string::npos) << refused(c);
  std::get<VirtioFsDevice>(c.devices.back()).socketFd = 5;
  std::get<VirtioFsDevice>(c.devices.back()).queueSize = 1000;
  EXPECT_NE(refused(c).find("power of two"), std::string::npos) << refused(c);
  std::get<VirtioFsDevice>(c.devices.back()).queueSize = 1024;
  std::get<VirtioFsDevice>(c.devices.back()).mountTag = "tag,x=y";
  EXPECT_NE(refused(c).find("virtio-fs tag"), std::string::npos) << refused(c);
  EXPECT_THROW(planHotplug(VirtioFsDevice{"fs", "/x", "t", 5, 1024}, "rp0", *arch), Error);
}

bool contains(const std::vector<std::string>& args, const std::string& needle) {
  for (const auto& a : args)
    if (a == needle) return true;
  return false;
}

// A sandbox created with a pod network: each pod interface is a NIC with the pod interface's MAC and
// MTU, cold-plugged behind a root port of its own after the requested hot-plug slots (so it can be
// unplugged later), on the tap descriptors netdev made; multi-queue for the second one.
TEST(QemuGolden, ColdPluggedNicsBehindRootPorts) {
  auto arch = archByName("x86_64");
  QemuConfig c = minimal();
  c.qmp = QmpEndpoint{"", 3};
  c.hotplugRootPorts = 3;  // 1 asked for + 2 NICs
  c.devices.push_back(SerialPortDevice{"agent", "agent.channel.0", "", 4});
  NetDevice eth0{"nic2", {5}, {}, "02:42:ac:11:00:02", 1500};
  eth0.bus = rootPortId(1);
  NetDevice eth1{"nic3", {6, 7}, {}, "02:42:ac:12:00:02", 9000};
  eth1.bus = rootPortId(2);
  c.devices.push_back(eth0);
  c.devices.push_back(eth1);
  expectGolden("net_coldplug_tcg", buildQemuArgs(c, *arch));
  NetDevice bad = eth0;
  bad.bus = "rp1,addr=3";
  c.devices = {bad};
  EXPECT_THROW(buildQemuArgs(c, *arch), Error);
}

// The QMP sequence of a NIC hot-plug (attachNetwork on a running sandbox): every tap queue passed
// with getfd, the tap backend naming them, then the virtio-net device on the free slot's root port.
TEST(QemuGolden, NicHotplugQmpSequence) {
  auto arch = archByName("x86_64");
  std::string text = qmpSequence(planHotplug(NetDevice{"nic4", {9}, {}, "02:42:ac:13:00:02", 1500}, "rp0", *arch));
  text += qmpSequence(planHotplug(NetDevice{"nic5", {10, 11}, {}, "02:42:ac:14:00:02", std::nullopt}, "rp1", *arch));
  expectGoldenFile(std::string(KATA_SOURCE_DIR) + "/tests/unit/vmmd/golden/net_hotplug.qmp", text);
}

TEST(QemuConfig, CommasInPathsAreEscapedNotInjected) {
  auto arch = archByName("x86_64");
  QemuConfig c = minimal();
  c.devices.push_back(FsShareDevice{"s", "/tmp/a,readonly=off,path=/x", "tag", FsShareDevice::SecurityModel::kNone, true});
  auto args = buildQemuArgs(c, *arch);
  EXPECT_TRUE(contains(args, "local,id=fs-s,path=/tmp/a,,readonly=off,,path=/x,security_model=none,multidevs=remap,readonly=on"));
}

TEST(QemuConfig, FirmwareOnlyVmHasNoKernelArguments) {
  auto arch = archByName("x86_64");
  QemuConfig c = minimal();
  c.kernel = KernelSpec{};
  auto args = buildQemuArgs(c, *arch);
  for (const char* opt : {"-kernel", "-initrd", "-append"}) EXPECT_FALSE(contains(args, opt)) << opt;
  EXPECT_TRUE(contains(args, "-mon"));
  // A command line or initrd without a kernel is a mistake, not something to drop silently.
  c.kernel.cmdline = "quiet";
  EXPECT_THROW(buildQemuArgs(c, *arch), Error);
  c.kernel = KernelSpec{};
  c.kernel.initrd = "/x/initrd";
  EXPECT_THROW(buildQemuArgs(c, *arch), Error);
}

TEST(QemuConfig, RejectsHostileOrInconsistentInput) {
  auto arch = archByName("x86_64");
  auto expectInvalid = [&](QemuConfig c, const std::string& why) {
    try {
      buildQemuArgs(c, *arch);
      ADD_FAILURE() << "accepted: " << why;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument) << why << ": " << e.what();
    }
  };
  QemuConfig c = minimal();
  c.devices.push_back(GenericDevice{"a,b", "virtio-rng-pci", {}});
  expectInvalid(c, "comma in device id");
  c = minimal();
  c.devices.push_back(GenericDevice{"x", "virtio-rng-pci", {}});
  c.devices.push_back(GenericDevice{"x", "virtio-rng-pci", {}});
  expectInvalid(c, "duplicate id");
  c = minimal();
  c.kernel.kernel = "relative/vmlinuz";
  expectInvalid(c, "relative kernel path");
  c = minimal();
  c.kernel.cmdline = "a\nb";
  expectInvalid(c, "newline in cmdline");
  c = minimal();
  c.vcpus = 0;
  expectInvalid(c, "zero vcpus");
  c = minimal();
  c.memory.sizeMiB = 1;
  expectInvalid(c, "tiny memory");
  c = minimal();
  c.devices.push_back(NetDevice{"n", {2}, {}, "02:00:00:00:00:01", std::nullopt});
  expectInvalid(c, "tap fd 2 is stderr");
  c = minimal();
  c.devices.push_back(NetDevice{"n", {5}, {}, "02:00:00:00:00:0g", std::nullopt});
  expectInvalid(c, "bad mac");
  c = minimal();
  c.devices.push_back(VfioDevice{"v", "3b:00.1"});
  expectInvalid(c, "short BDF");
  c = minimal();
  c.devices.push_back(GenericDevice{"g", "virtio-rng-pci", {{"id", "other"}}});
  expectInvalid(c, "overriding id through a property");
  c = minimal();
  c.qmp = {};
  expectInvalid(c, "no QMP endpoint");
  c = minimal();
  c.accel = Accel::kAuto;
  EXPECT_THROW(buildQemuArgs(c, *arch), Error) << "auto must be resolved before argv";
}

TEST(QemuConfig, UnknownArchitectureIsNotSupported) {
  try {
    archByName("sparc64");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotSupported);
  }
}

TEST(QemuHotplugPlan, NetDevicePassesFdsThenNetdevThenDevice) {
  auto arch = archByName("x86_64");
  auto plan = planHotplug(NetDevice{"eth1", {7, 8}, {}, "02:00:00:00:00:09", 9000}, "rp1", *arch);
  ASSERT_EQ(plan.fds.size(), 2u);
  EXPECT_EQ(plan.fds[0], (std::pair<std::string, int>{"tap-eth1-0", 7}));
  ASSERT_EQ(plan.backends.size(), 1u);
  EXPECT_EQ(plan.backends[0].first, "netdev_add");
  EXPECT_EQ(plan.backends[0].second.dump(), R"({"fds":"tap-eth1-0:tap-eth1-1","id":"net-eth1","type":"tap"})");
  EXPECT_EQ(plan.deviceAdd.dump(),
            R"({"bus":"rp1","driver":"virtio-net-pci","host_mtu":9000,"id":"eth1","mac":"02:00:00:00:00:09","mq":true,"netdev":"net-eth1","vectors":6})");
}

TEST(QemuHotplugPlan, BlockAndGenericAndUnsupported) {
  auto arch = archByName("x86_64");
  auto blk = planHotplug(BlockDevice{"d1", "/var/img,x", "qcow2", true, ""}, "rp0", *arch);
  ASSERT_EQ(blk.backends.size(), 1u);
  // JSON needs no comma escaping: the value travels as a JSON string.
  EXPECT_EQ(blk.backends[0].second.dump(),
            R"({"driver":"qcow2","file":{"driver":"file","filename":"/var/img,x"},"node-name":"blk-d1","read-only":true})");
  // The guest finds the disk by its serial: the device id unless one is given.
  EXPECT_EQ(blk.deviceAdd.dump(), R"({"bus":"rp0","drive":"blk-d1","driver":"virtio-blk-pci","id":"d1","serial":"d1"})");
  auto named = planHotplug(BlockDevice{"d2", "/var/img", "raw", false, "vol-7"}, "rp1", *arch);
  EXPECT_EQ(named.deviceAdd["serial"], "vol-7");
  // A descriptor the client passed (QEMU opens /dev/fdset/N): the driver follows the descriptor's
  // type, and a qcow2 may not pull in a backing file by path.
  auto fromFd = planHotplug(BlockDevice{"d3", "/dev/fdset/4", "qcow2", false, "", 9, false}, "rp0", *arch);
  EXPECT_EQ(fromFd.backends[0].second.dump(),
            R"({"backing":null,"driver":"qcow2","file":{"driver":"file","filename":"/dev/fdset/4"},"node-name":"blk-d3","read-only":false})");
  auto devFd = planHotplug(BlockDevice{"d4", "/dev/fdset/5", "raw", true, "", 9, true}, "rp0", *arch);
  EXPECT_EQ(devFd.backends[0].second["file"]["driver"], "host_device");
  // virtio-blk carries 20 bytes of serial: a longer one (an id of 21-32 characters) is refused.
  try {
    (void)planHotplug(BlockDevice{"abcdefghijklmnopqrstu", "/var/img", "raw", false, ""}, "rp0", *arch);
    FAIL() << "a 21-character serial was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("longer than 20 characters"), std::string::npos) << e.what();
  }
  auto rng = planHotplug(GenericDevice{"rng1", "virtio-rng-pci", {{"max-bytes", "64"}, {"x-flag", "on"}}}, "rp0", *arch);
  EXPECT_EQ(rng.deviceAdd.dump(), R"({"bus":"rp0","driver":"virtio-rng-pci","id":"rng1","max-bytes":64,"x-flag":true})");
  EXPECT_THROW(planHotplug(FsShareDevice{"fs", "/x", "t", {}, false}, "rp0", *arch), Error);
  EXPECT_THROW(planHotplug(GenericDevice{"g", "virtio-rng-pci", {}}, "rp0,bus=x", *arch), Error);
}

}  // namespace
}  // namespace kata::vmmd
