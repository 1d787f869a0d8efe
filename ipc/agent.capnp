# The protocol between the host (the per-sandbox monitor, and through it shims and the CLI) and
# kata-agent, PID 1 of the guest. Carried over a virtio-serial port (or vsock where the host has it)
# as Cap'n Proto two-party RPC; the agent's bootstrap capability is `Agent`.
#
# Trust: the agent is inside the VM and trusts its host; the host must treat every answer as
# untrusted guest data (bounded sizes, validated ids) and never hand it to kata-vmmd.
#
# Evolution: methods are only ever added (new ordinals), never renumbered. A method declared here but
# not implemented by the running agent fails with an UNIMPLEMENTED exception whose description says
# "not implemented yet"; callers check `version().protocolVersion` to know what the agent serves.
@0x8c869f4d110696b1;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("kata::ipc::agent");

const protocolVersion :UInt32 = 1;
# 1: ping, version, guestInfo, shutdown.

interface Agent {
  ping @0 (payload :Data) -> (payload :Data);
  # Echoes `payload` (at most 64 KiB) back. The host's "agent is ready" probe and latency check.

  version @1 () -> (version :VersionInfo);

  guestInfo @2 () -> (info :GuestInfo);
  # Uptime, memory and the agent's own footprint, read fresh from /proc at each call.

  shutdown @3 () -> ();
  # Syncs file systems and powers the VM off. The reply is sent first; the host then sees the
  # channel close and the VMM exit. Never returns an error for a VM that can power off.

  # ---- Declared for the next slices; each fails with "not implemented yet" until it lands. ----

  createSandbox @4 (config :SandboxConfig) -> ();
  # Prepares the guest for a pod: hostname, DNS, shared-storage mounts, sandbox-wide cgroup.

  destroySandbox @5 () -> ();

  createContainer @6 (config :ContainerConfig) -> (container :Container);
  # Creates (runc "create") a container from an OCI spec; its init process is not started yet.

  container @7 (id :Text) -> (container :Container);
  # A capability for an existing container, e.g. after the host reconnected (capabilities do not
  # survive a disconnection; ids do).

  listContainers @8 () -> (ids :List(Text));
}

struct VersionInfo {
  agentVersion @0 :Text;     # project version, e.g. "0.1.0"
  agentCommit @1 :Text;      # git commit the agent was built from
  buildId @2 :Text;          # hex GNU build id of the agent binary (matches build/guest/manifest.json)
  kernelRelease @3 :Text;    # uname -r of the guest
  protocolVersion @4 :UInt32;
}

struct GuestInfo {
  uptimeNs @0 :UInt64;            # CLOCK_BOOTTIME
  wallClockNs @1 :Int64;          # CLOCK_REALTIME, ns since the epoch: lets the host check the clock
  memTotalBytes @2 :UInt64;       # /proc/meminfo MemTotal
  memAvailableBytes @3 :UInt64;   # /proc/meminfo MemAvailable
  agentRssBytes @4 :UInt64;       # /proc/self/status VmRSS
  agentStartNs @5 :UInt64;        # CLOCK_BOOTTIME when the agent's main() began
  agentReadyNs @6 :UInt64;        # CLOCK_BOOTTIME when the channel was first served
  onlineCpus @7 :UInt32;
  loadedModules @8 :List(Text);   # modules the agent loaded at boot, in load order
  modulesLoading @9 :Bool;        # true while the background load of the late modules runs
}

struct SandboxConfig {
  id @0 :Text;
  hostname @1 :Text;
  dns @2 :List(Text);             # resolv.conf lines
}

struct ContainerConfig {
  id @0 :Text;
  ociSpecJson @1 :Data;           # the bundle's config.json, as the host validated it
}

interface Container {
  id @0 () -> (id :Text);
  start @1 () -> (process :Process);              # runc "start": runs the init process
  exec @2 (spec :ProcessSpec) -> (process :Process);
  process @3 (execId :Text) -> (process :Process);
  state @4 () -> (state :ContainerState);
  ps @5 () -> (pids :List(Int32));
  stats @6 () -> (stats :ContainerStats);
  pause @7 () -> ();
  resume @8 () -> ();
  signal @9 (signal :Int32, all :Bool) -> ();
  remove @10 () -> ();
}

struct ProcessSpec {
  execId @0 :Text;
  processJson @1 :Data;           # an OCI "process" object
}

enum ContainerStatus {
  creating @0;
  created @1;
  running @2;
  paused @3;
  stopped @4;
}

struct ContainerState {
  status @0 :ContainerStatus;
  initPid @1 :Int32;              # pid in the guest's pid namespace
}

struct ContainerStats {
  cpuUsageNs @0 :UInt64;
  memoryUsageBytes @1 :UInt64;
  pids @2 :UInt32;
}

interface Process {
  pid @0 () -> (pid :Int32);
  wait @1 () -> (status :ExitStatus);
  signal @2 (signal :Int32) -> ();
  resize @3 (rows :UInt16, cols :UInt16) -> ();
  attach @4 (stdout :ByteStream, stderr :ByteStream) -> (stdin :ByteStream);
  # Output flows to the host's streams; the host writes input to the returned one.
}

struct ExitStatus {
  union {
    exited @0 :Int32;             # exit code
    signaled @1 :Int32;           # signal number
  }
}

interface ByteStream {
  write @0 (data :Data) -> stream;
  end @1 () -> ();
}
