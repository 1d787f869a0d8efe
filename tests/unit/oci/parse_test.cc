// parseSpec/toJson: every field group lands in the typed model, and parse -> toJson gives back the
// input document, unknown members and all.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "runtime/oci/spec.h"
#include "tests/unit/oci/oci_support.h"

namespace kata::oci {
namespace {

using nlohmann::json;
using testing::corpusJson;
using testing::corpusText;

TEST(OciParseTest, ProcessFields) {
  Spec s = parseSpec(corpusText("podman-hooks.json"));
  ASSERT_TRUE(s.process);
  const Process& p = *s.process;
  EXPECT_TRUE(p.terminal);
  ASSERT_TRUE(p.consoleSize);
  EXPECT_EQ(p.consoleSize->height, 48u);
  EXPECT_EQ(p.consoleSize->width, 160u);
  EXPECT_EQ(p.user.uid, 1000u);
  EXPECT_EQ(p.user.gid, 1000u);
  EXPECT_EQ(p.user.umask, 18u);
  EXPECT_EQ(p.user.additionalGids, std::vector<uint32_t>{1000});
  EXPECT_EQ(p.args, (std::vector<std::string>{"/bin/bash", "-c", "echo 'hello world' && sleep infinity"}));
  ASSERT_TRUE(p.env);
  EXPECT_EQ(p.env->at(1), "TERM=xterm");
  EXPECT_EQ(p.cwd, "/");
  ASSERT_TRUE(p.capabilities);
  EXPECT_EQ(p.capabilities->bounding->size(), 3u);
  EXPECT_FALSE(p.capabilities->inheritable);
  ASSERT_TRUE(p.rlimits);
  ASSERT_EQ(p.rlimits->size(), 2u);
  EXPECT_EQ(p.rlimits->at(1).type, "RLIMIT_NPROC");
  EXPECT_EQ(p.rlimits->at(1).hard, 4194304u);
  EXPECT_EQ(p.rlimits->at(0).soft, 1048576u);
  EXPECT_TRUE(p.noNewPrivileges);
  EXPECT_EQ(p.selinuxLabel, "system_u:system_r:container_t:s0:c123,c456");
  EXPECT_FALSE(p.apparmorProfile);
  EXPECT_FALSE(p.oomScoreAdj);
  EXPECT_EQ(s.domainname, "example.org");
  EXPECT_EQ(s.hostname, "runc");

  Spec cri = parseSpec(corpusText("containerd-cri-sandbox.json"));
  EXPECT_EQ(cri.process->apparmorProfile, "cri-containerd.apparmor.d");
  EXPECT_EQ(cri.process->oomScoreAdj, -998);
  EXPECT_FALSE(cri.process->terminal);
  EXPECT_EQ(cri.process->user.additionalGids, (std::vector<uint32_t>{65534, 10, 2000}));
}

TEST(OciParseTest, ProcessSchedulingFields) {
  Spec s = parseSpec(corpusText("full-1.2.json"));
  const Process& p = *s.process;
  ASSERT_TRUE(p.ioPriority);
  EXPECT_EQ(p.ioPriority->ioClass, "IOPRIO_CLASS_BE");
  EXPECT_EQ(p.ioPriority->priority, 4);
  ASSERT_TRUE(p.scheduler);
  EXPECT_EQ(p.scheduler->policy, "SCHED_DEADLINE");
  EXPECT_EQ(p.scheduler->nice, 0);
  EXPECT_EQ(p.scheduler->flags, std::vector<std::string>{"SCHED_FLAG_RESET_ON_FORK"});
  EXPECT_EQ(p.scheduler->runtime, 10000000u);
  EXPECT_EQ(p.scheduler->deadline, 30000000u);
  EXPECT_EQ(p.scheduler->period, 30000000u);
  // Explicitly empty stays distinct from absent.
  ASSERT_TRUE(p.capabilities->inheritable);
  EXPECT_TRUE(p.capabilities->inheritable->empty());
  // A 1.2 member this model does not type is kept.
  EXPECT_EQ(p.unknown["execCPUAffinity"]["initial"], "0-3");
}

TEST(OciParseTest, RootMountsAndHooks) {
  Spec s = parseSpec(corpusText("podman-hooks.json"));
  ASSERT_TRUE(s.root);
  EXPECT_EQ(s.root->path, "rootfs");
  EXPECT_TRUE(s.root->readonly);
  ASSERT_TRUE(s.mounts);
  ASSERT_EQ(s.mounts->size(), 7u);
  const Mount& pts = s.mounts->at(2);
  EXPECT_EQ(pts.destination, "/dev/pts");
  EXPECT_EQ(pts.type, "devpts");
  EXPECT_EQ(pts.source, "devpts");
  EXPECT_EQ(pts.options->back(), "gid=5");
  EXPECT_FALSE(s.mounts->at(0).options);

  ASSERT_TRUE(s.hooks);
  ASSERT_EQ(s.hooks->prestart.size(), 1u);
  EXPECT_EQ(s.hooks->prestart[0].path, "/usr/libexec/oci/hooks.d/oci-systemd-hook");
  EXPECT_EQ(s.hooks->prestart[0].args, (std::vector<std::string>{"oci-systemd-hook", "prestart"}));
  EXPECT_EQ(s.hooks->prestart[0].env, std::vector<std::string>{"container=podman"});
  EXPECT_EQ(s.hooks->prestart[0].timeout, 10);
  EXPECT_EQ(s.hooks->createRuntime.at(0).path, "/usr/bin/nvidia-container-runtime-hook");
  EXPECT_EQ(s.hooks->createContainer.at(0).path, "/usr/local/bin/cc-hook");
  EXPECT_FALSE(s.hooks->createContainer.at(0).timeout);
  EXPECT_EQ(s.hooks->startContainer.at(0).args.at(1), "--start");
  EXPECT_EQ(s.hooks->poststart.at(0).timeout, 5);
  EXPECT_EQ(s.hooks->poststop.at(0).args.size(), 6u);

  EXPECT_EQ(s.annotations.at("io.container.manager"), "libpod");
  EXPECT_EQ(s.annotations.size(), 4u);

  Spec full = parseSpec(corpusText("full-1.2.json"));
  const Mount& idmapped = full.mounts->back();
  EXPECT_EQ(idmapped.destination, "/data");
  ASSERT_TRUE(idmapped.uidMappings);
  EXPECT_EQ(idmapped.uidMappings->at(0).hostID, 100000u);
  EXPECT_EQ(idmapped.gidMappings->at(0).size, 65536u);
  EXPECT_EQ(full.annotations.at("org.example.unicode"), "h\u00e9llo \u2603 \U0001F600");
}

TEST(OciParseTest, LinuxNamespacesMappingsDevices) {
  Spec s = parseSpec(corpusText("userns-join.json"));
  ASSERT_TRUE(s.linux && s.linux->namespaces);
  const Namespace* user = s.findNamespace("user");
  ASSERT_NE(user, nullptr);
  EXPECT_EQ(user->path, "/proc/1234/ns/user");
  EXPECT_FALSE(s.findNamespace("pid")->path);
  EXPECT_EQ(s.findNamespace("cgroup"), nullptr);
  EXPECT_EQ(s.linux->gidMappings->at(1).hostID, 4294901760u);
  EXPECT_EQ(s.linux->gidMappings->at(1).containerID, 65536u);

  Spec full = parseSpec(corpusText("full-1.2.json"));
  const Linux& l = *full.linux;
  ASSERT_TRUE(l.devices);
  ASSERT_EQ(l.devices->size(), 3u);
  EXPECT_EQ(l.devices->at(0).type, "c");
  EXPECT_EQ(l.devices->at(0).path, "/dev/fuse");
  EXPECT_EQ(l.devices->at(0).major, 10);
  EXPECT_EQ(l.devices->at(0).minor, 229);
  EXPECT_EQ(l.devices->at(0).fileMode, 438u);
  EXPECT_EQ(l.devices->at(0).uid, 0u);
  EXPECT_FALSE(l.devices->at(2).major);
  EXPECT_EQ(l.sysctl->at("net.core.somaxconn"), "4096");
  EXPECT_EQ(l.personality->domain, "LINUX32");
  EXPECT_TRUE(l.personality->flags->empty());
  EXPECT_EQ(l.timeOffsets->at("boottime").secs, 604800);
  EXPECT_EQ(l.timeOffsets->at("boottime").nanosecs, 500000000u);
  EXPECT_EQ(l.intelRdt->closID, "guaranteed_group");
  EXPECT_EQ(l.intelRdt->enableMBM, false);
  EXPECT_EQ(l.maskedPaths->front(), "/proc/acpi");
  EXPECT_EQ(l.readonlyPaths->back(), "/proc/sysrq-trigger");

  Spec cri = parseSpec(corpusText("containerd-cri-sandbox.json"));
  EXPECT_EQ(cri.linux->cgroupsPath, "kubepods-besteffort-pod5b1c0f5e.slice:cri-containerd:3f2a9c");
  EXPECT_EQ(cri.findNamespace("network")->path, "/var/run/netns/cni-1b2c3d4e");
  Spec podman = parseSpec(corpusText("podman-hooks.json"));
  EXPECT_EQ(podman.linux->rootfsPropagation, "rprivate");
  EXPECT_EQ(podman.linux->mountLabel, "system_u:object_r:container_file_t:s0:c123,c456");
}

TEST(OciParseTest, LinuxResources) {
  Spec s = parseSpec(corpusText("full-1.2.json"));
  const Resources& r = *s.linux->resources;
  ASSERT_EQ(r.devices->size(), 3u);
  EXPECT_FALSE(r.devices->at(0).allow);
  EXPECT_FALSE(r.devices->at(0).type);
  EXPECT_EQ(r.devices->at(0).access, "rwm");
  EXPECT_EQ(r.devices->at(2).minor, -1);
  const Memory& m = *r.memory;
  EXPECT_EQ(m.limit, 536870912);
  EXPECT_EQ(m.reservation, 268435456);
  EXPECT_EQ(m.swap, 1073741824);
  EXPECT_EQ(m.kernel, -1);
  EXPECT_EQ(m.kernelTCP, -1);
  EXPECT_EQ(m.swappiness, 60u);
  EXPECT_EQ(m.disableOOMKiller, false);
  EXPECT_EQ(m.useHierarchy, true);
  EXPECT_EQ(m.checkBeforeUpdate, true);
  const Cpu& c = *r.cpu;
  EXPECT_EQ(c.shares, 1024u);
  EXPECT_EQ(c.quota, -1);
  EXPECT_EQ(c.burst, 5000u);
  EXPECT_EQ(c.period, 100000u);
  EXPECT_EQ(c.realtimeRuntime, 950000);
  EXPECT_EQ(c.realtimePeriod, 1000000u);
  EXPECT_EQ(c.cpus, "0-3,6");
  EXPECT_EQ(c.mems, "0");
  EXPECT_EQ(c.idle, 0);
  EXPECT_EQ(r.pids->limit, 32768);
  const BlockIo& b = *r.blockIO;
  EXPECT_EQ(b.weight, 500);
  EXPECT_EQ(b.leafWeight, 300);
  EXPECT_EQ(b.weightDevice->at(0).leafWeight, 200);
  EXPECT_FALSE(b.weightDevice->at(1).leafWeight);
  EXPECT_EQ(b.throttleReadBpsDevice->at(0).rate, 104857600u);
  EXPECT_EQ(b.throttleWriteBpsDevice->at(0).rate, 52428800u);
  EXPECT_EQ(b.throttleReadIOPSDevice->at(0).rate, 1000u);
  EXPECT_EQ(b.throttleWriteIOPSDevice->at(0).major, 8);
  EXPECT_EQ(r.hugepageLimits->at(0).pageSize, "2MB");
  EXPECT_EQ(r.hugepageLimits->at(0).limit, 209715200u);
  EXPECT_EQ(r.network->classID, 1048577u);
  EXPECT_EQ(r.network->priorities->at(1).name, "lo");
  EXPECT_EQ(r.network->priorities->at(1).priority, 1000u);
  EXPECT_EQ(r.rdma->at("mlx5_1").hcaHandles, 3u);
  EXPECT_FALSE(r.rdma->at("mlx4_0").hcaHandles);
  EXPECT_EQ(r.unified->at("memory.max"), "max");
}

TEST(OciParseTest, Seccomp) {
  Spec s = parseSpec(corpusText("containerd-cri-sandbox.json"));
  const Seccomp& sc = *s.linux->seccomp;
  EXPECT_EQ(sc.defaultAction, "SCMP_ACT_ERRNO");
  EXPECT_EQ(sc.defaultErrnoRet, 1u);
  EXPECT_EQ(sc.architectures->size(), 3u);
  ASSERT_EQ(sc.syscalls->size(), 7u);
  EXPECT_EQ(sc.syscalls->at(0).names.size(), 58u);
  EXPECT_EQ(sc.syscalls->at(3).args->at(0).value, 4294967295u);
  EXPECT_EQ(sc.syscalls->at(4).args->at(0).op, "SCMP_CMP_MASKED_EQ");
  EXPECT_EQ(sc.syscalls->at(4).args->at(0).valueTwo, 0u);
  EXPECT_FALSE(sc.syscalls->at(3).args->at(0).valueTwo);
  EXPECT_EQ(sc.syscalls->at(5).errnoRet, 38u);
  EXPECT_EQ(sc.syscalls->at(6).unknown["comment"], "vendor extension kept as unknown");

  Spec full = parseSpec(corpusText("full-1.2.json"));
  EXPECT_EQ(full.linux->seccomp->listenerPath, "/run/seccomp-agent.socket");
  EXPECT_EQ(full.linux->seccomp->listenerMetadata, "pod=web-0");
  EXPECT_EQ(full.linux->seccomp->flags->at(1), "SECCOMP_FILTER_FLAG_SPEC_ALLOW");
  EXPECT_EQ(full.linux->seccomp->syscalls->at(3).args->at(1).index, 2u);
}

TEST(OciParseTest, IntegerBoundsAreExact) {
  Spec s = parseSpec(
      R"({"ociVersion":"1.0.2","process":{"user":{"uid":4294967295,"gid":0},"args":["a"],"cwd":"/",
          "rlimits":[{"type":"RLIMIT_CORE","hard":18446744073709551615,"soft":0}]},
          "linux":{"resources":{"memory":{"limit":9223372036854775807,"swap":-9223372036854775808}}}})");
  EXPECT_EQ(s.process->user.uid, 4294967295u);
  EXPECT_EQ(s.process->rlimits->at(0).hard, UINT64_MAX);
  EXPECT_EQ(s.linux->resources->memory->limit, INT64_MAX);
  EXPECT_EQ(s.linux->resources->memory->swap, INT64_MIN);
  json out = toJson(s);
  EXPECT_EQ(out["process"]["rlimits"][0]["hard"].get<uint64_t>(), UINT64_MAX);
  EXPECT_EQ(out["linux"]["resources"]["memory"]["swap"].get<int64_t>(), INT64_MIN);
}

TEST(OciParseTest, NullReadsAsAbsent) {
  Spec s = parseSpec(R"({"ociVersion":"1.0.2","hostname":null,"process":{"user":{"uid":0,"gid":0},
      "args":["a"],"cwd":"/","env":null,"terminal":null},"annotations":null,"linux":null})");
  EXPECT_FALSE(s.hostname);
  EXPECT_FALSE(s.process->env);
  EXPECT_FALSE(s.process->terminal);
  EXPECT_TRUE(s.annotations.empty());
  EXPECT_FALSE(s.linux);
  EXPECT_EQ(toJson(s), json::parse(R"({"ociVersion":"1.0.2","process":{"user":{"uid":0,"gid":0},
      "args":["a"],"cwd":"/"}})"));
}

// The property engines rely on: a read-modify-write by this runtime loses nothing.
TEST(OciParseTest, RoundTripReproducesEveryValidCorpusConfig) {
  for (const char* name : {"runc-spec.json", "runc-spec-rootless.json", "containerd-cri-sandbox.json",
                           "podman-hooks.json", "full-1.2.json", "vendor-extensions.json", "minimal.json",
                           "userns-join.json"}) {
    SCOPED_TRACE(name);
    json input = corpusJson(name);
    Spec spec = parseSpec(input.dump());
    EXPECT_NO_THROW(validateSpec(spec));
    EXPECT_EQ(toJson(spec), input) << "diff: " << json::diff(input, toJson(spec)).dump();
  }
}

TEST(OciParseTest, UnknownMembersSurviveAtEveryLevel) {
  Spec s = parseSpec(corpusText("vendor-extensions.json"));
  EXPECT_EQ(s.unknown["vm"]["hypervisor"]["path"], "/usr/bin/qemu-system-x86_64");
  EXPECT_EQ(s.unknown["x-vendor"]["big"].get<uint64_t>(), UINT64_MAX);
  EXPECT_EQ(s.process->unknown["x-proc"], "kept");
  EXPECT_EQ(s.process->user.unknown["x-user"], 7);
  EXPECT_EQ(s.root->unknown["x-root"]["a"], 1);
  EXPECT_EQ(s.linux->unknown["memoryPolicy"]["mode"], "MPOL_INTERLEAVE");
  EXPECT_EQ(s.linux->resources->unknown["x-res"], true);
  EXPECT_EQ(s.linux->resources->devices->at(0).unknown["x-dev"], "d");
  EXPECT_TRUE(s.mounts->at(0).unknown["x-mount"].is_null());
  // Typed members are not duplicated into `unknown`.
  EXPECT_FALSE(s.process->unknown.contains("args"));
  EXPECT_FALSE(s.unknown.contains("ociVersion"));
}

TEST(OciParseTest, ModifiedTypedMembersOverrideAndKeepTheRest) {
  Spec s = parseSpec(corpusText("containerd-cri-sandbox.json"));
  s.process->args = {"/bin/sh", "-c", "true"};
  s.annotations["io.katacontainers.pkg.oci.bundle_path"] = "/run/bundle";
  s.linux->resources->memory->limit = 1 << 30;
  s.hooks.emplace();
  s.hooks->poststop.push_back(Hook{"/bin/cleanup", {"cleanup"}, {}, 3, json::object()});
  json out = toJson(s);
  json in = corpusJson("containerd-cri-sandbox.json");
  EXPECT_EQ(out["process"]["args"], json({"/bin/sh", "-c", "true"}));
  EXPECT_EQ(out["linux"]["resources"]["memory"]["limit"], 1 << 30);
  EXPECT_EQ(out["linux"]["seccomp"], in["linux"]["seccomp"]);
  EXPECT_EQ(out["annotations"].size(), in["annotations"].size() + 1);
  EXPECT_EQ(out["hooks"], json::parse(R"({"poststop":[{"path":"/bin/cleanup","args":["cleanup"],"timeout":3}]})"));
}

// A large realistic config: the CRI config with thousands of annotations, mounts, devices and env
// entries, plus unknown members sprinkled through it.
TEST(OciParseTest, LargeRealisticConfigRoundTrips) {
  json doc = corpusJson("containerd-cri-sandbox.json");
  json full = corpusJson("full-1.2.json");
  doc["linux"]["resources"] = full["linux"]["resources"];
  doc["linux"]["devices"] = full["linux"]["devices"];
  doc["hooks"] = corpusJson("podman-hooks.json")["hooks"];
  for (int i = 0; i < 3000; ++i) {
    doc["annotations"]["io.example/key-" + std::to_string(i)] = std::string(i % 97, 'v') + std::to_string(i);
  }
  for (int i = 0; i < 1000; ++i) {
    doc["mounts"].push_back({{"destination", "/vol/" + std::to_string(i)},
                             {"type", "bind"},
                             {"source", "/var/lib/kubelet/pods/x/volumes/" + std::to_string(i)},
                             {"options", {"rbind", i % 2 ? "ro" : "rw"}},
                             {"x-csi", {{"driver", "csi.example.com"}, {"index", i}}}});
    doc["process"]["env"].push_back("VAR_" + std::to_string(i) + "=value " + std::to_string(i));
  }
  for (int i = 0; i < 300; ++i) {
    doc["linux"]["devices"].push_back({{"type", "c"}, {"path", "/dev/vfio/" + std::to_string(i)},
                                       {"major", 241}, {"minor", i}, {"fileMode", 0666}, {"uid", 0}, {"gid", 0}});
  }
  doc["x-top"] = {{"nested", {{"list", {1, -2, 3.25, "x", nullptr, false}}}}};
  std::string text = doc.dump(2);
  ASSERT_GT(text.size(), 500u * 1024);
  ASSERT_LT(text.size(), kMaxConfigBytes);

  Spec spec = parseSpec(text);
  EXPECT_NO_THROW(validateSpec(spec));
  EXPECT_EQ(spec.annotations.size(), doc["annotations"].size());
  EXPECT_EQ(spec.mounts->size(), doc["mounts"].size());
  EXPECT_EQ(spec.mounts->back().unknown["x-csi"]["index"], 999);
  json out = toJson(spec);
  EXPECT_EQ(out, doc) << json::diff(doc, out).dump();
  // And the text form re-parses to the same model output.
  EXPECT_EQ(toJson(parseSpec(out.dump())), doc);
}

TEST(OciParseTest, SpecFromJsonMatchesParseSpec) {
  json doc = corpusJson("full-1.2.json");
  EXPECT_EQ(toJson(specFromJson(doc)), toJson(parseSpec(doc.dump())));
}

}  // namespace
}  // namespace kata::oci
