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

const protocolVersion :UInt32 = 4;
# 1: ping, version, guestInfo, shutdown.
# 2: createSandbox, destroySandbox, createContainer, container, listContainers; Container, Process,
#    ByteStream (see docs/guest.md, "Containers and processes").
# 3: Container.processList; the network calls (updateInterface, removeInterface, listInterfaces,
#    updateRoutes, listRoutes); waitBlockDevice; metrics.
# 4: SandboxConfig.sharedFs (shares over virtio-fs).

interface Agent {
  ping @0 (payload :Data) -> (payload :Data);
  # Echoes `payload` (at most 64 KiB) back. The host's "agent is ready" probe and latency check.

  version @1 () -> (version :VersionInfo);

  guestInfo @2 () -> (info :GuestInfo);
  # Uptime, memory and the agent's own footprint, read fresh from /proc at each call.

  shutdown @3 () -> ();
  # Syncs file systems and powers the VM off. The reply is sent first; the host then sees the
  # channel close and the VMM exit. Never returns an error for a VM that can power off.

  createSandbox @4 (config :SandboxConfig) -> ();
  # Prepares the guest for a pod: hostname, resolv.conf, shared-directory mounts (virtio-9p or
  # virtio-fs, config.sharedFs) under /run/kata/shared/<tag>. Waits for the late kernel modules
  # (9p, virtiofs) first. Once per VM: a second call
  # fails with "sandbox already exists" until destroySandbox.

  destroySandbox @5 () -> ();
  # Kills and reaps every container's processes, then unmounts the shares.

  createContainer @6 (config :ContainerConfig, stdio :Stdio) -> (container :Container, init :Process);
  # runc "create": clones the init process into the spec's namespaces (never a network namespace:
  # the pod shares the VM's network), prepares its root file system, and leaves it waiting for
  # start(). Errors of the set-up (bad mount, missing rootfs, ...) come back as this call's error.
  # `init` is the init process; its output flows into `stdio` from the moment it execs.

  container @7 (id :Text) -> (container :Container);
  # A capability for an existing container, e.g. after the host reconnected (capabilities do not
  # survive a disconnection; ids do).

  listContainers @8 () -> (ids :List(Text));

  # --- network (protocol 3). The host carries each of the pod's interfaces into the VM as a NIC with
  # the same MAC; the guest makes its interface look exactly like the one in the pod's namespace.

  updateInterface @9 (interface :NetInterface, timeoutMs :UInt32) -> (interface :NetInterface);
  # Configures the guest NIC whose MAC is interface.mac, waiting up to timeoutMs (0: do not wait)
  # for a hot-plugged one to appear: renames it to interface.name, sets the MTU, replaces its
  # addresses with interface.addresses and brings it up. Returns the interface as the guest now has
  # it. An unknown MAC after the wait is "not found".

  removeInterface @10 (mac :Text) -> ();
  # Takes the interface down and removes its addresses and routes (before the host unplugs the NIC).

  listInterfaces @11 () -> (interfaces :List(NetInterface));
  # Every interface of the guest, loopback included.

  updateRoutes @12 (routes :List(Route)) -> (routes :List(Route));
  # Replaces the routes of the main table (both families) on the interfaces the host configured with
  # `routes`, in order (on-link routes first, so gateways are reachable), and returns the table.

  listRoutes @13 () -> (routes :List(Route));

  # --- devices (protocol 3)

  waitBlockDevice @14 (serial :Text, timeoutMs :UInt32) -> (devicePath :Text);
  # Waits (up to timeoutMs) for the hot-plugged virtio-blk disk whose serial is `serial` (kata-vmmd
  # sets it to the device id) and returns its node, e.g. "/dev/vdb".

  metrics @15 () -> (text :Text);
  # Guest and agent metrics in the Prometheus text exposition format (kata_guest_*, kata_agent_*).
}

struct NetInterface {
  name @0 :Text;                  # guest name, e.g. "eth0" (at most 15 bytes)
  mac @1 :Text;                   # "aa:bb:cc:dd:ee:ff", lower case
  mtu @2 :UInt32;                 # 0: leave as is
  addresses @3 :List(IpAddress);  # at most 64
  up @4 :Bool;
}

struct IpAddress {
  address @0 :Text;               # "10.88.0.5" or "fd00::5"
  prefixLength @1 :UInt8;
}

struct Route {
  destination @0 :Text;           # CIDR ("10.88.0.0/16", "fd00::/64"); "default" or "" for 0/0 of its family
  gateway @1 :Text;               # empty: on-link
  device @2 :Text;                # guest interface name
  source @3 :Text;                # preferred source address, may be empty
  family @4 :UInt8;               # 4 or 6 (when destination and gateway do not say)
  metric @5 :UInt32;
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
  hostname @1 :Text;              # at most 64 bytes; empty: keep the guest's
  dns @2 :List(Text);             # nameserver addresses, written to /etc/resolv.conf (at most 8)
  sharedMounts @3 :List(Text);    # mount tags, each mounted at /run/kata/shared/<tag> (at most 32)
  sharedFs @4 :Text;              # how sharedMounts reach the guest: "virtio-9p" (also when empty) or
                                  # "virtio-fs" (protocol 4)
}

struct ContainerConfig {
  id @0 :Text;                    # runc's rule: [A-Za-z0-9][A-Za-z0-9_.-]*, at most 128 bytes
  ociSpecJson @1 :Data;           # the bundle's config.json (at most 4 MiB); process is required
  rootfsShare @2 :Text;           # a mount tag of createSandbox's sharedMounts
  rootfsPath @3 :Text;            # relative path of the root file system inside that share
}

struct Stdio {
  # Where a process's output goes. The agent writes each stream in order with at most one write in
  # flight (the host's reply is the flow control) and calls end() at end of file. A null capability
  # discards that output. With process.terminal the pty's output goes to `stdout`; `stderr` is unused.
  stdout @0 :ByteStream;
  stderr @1 :ByteStream;
}

interface Container {
  id @0 () -> (id :Text);
  start @1 () -> ();
  # runc "start": lets the init process exec. Fails with "container not created" after the first.
  exec @2 (spec :ProcessSpec, stdio :Stdio) -> (process :Process);
  # Runs another process in the container's namespaces (and cgroup). The container must be running.
  process @3 (execId :Text) -> (process :Process);
  # The init process for execId "", else an exec'd one (also after it exited, until remove).
  state @4 () -> (state :ContainerState);
  ps @5 () -> (pids :List(Int32));
  # Pids (as the guest's pid namespace numbers them) of every process in the container.
  stats @6 () -> (stats :ContainerStats);
  pause @7 () -> ();
  resume @8 () -> ();
  signal @9 (signal :Int32, all :Bool) -> ();
  # To the init process, or with `all` to every process of the container.
  remove @10 (force :Bool) -> ();
  # Forgets a stopped container; with `force` a running one is killed (SIGKILL) and reaped first.
  update @11 (resourcesJson :Data) -> ();
  # New linux.resources (OCI JSON object, at most 64 KiB) for the container's cgroup.
  nextOomEvent @12 (seen :UInt64) -> (oomKills :UInt64);
  # Long poll: resolves once the container's OOM-kill count exceeds `seen` (pass the last answer;
  # 0 at first), or with the current count when the container stops.
  processList @13 () -> (processes :List(ProcessInfo));
  # What `ps -ef` shows of each process of the container, read from the guest's /proc (protocol 3).
}

struct ProcessInfo {
  pid @0 :Int32;                  # in the guest's pid namespace, as ps() reports
  ppid @1 :Int32;
  uid @2 :UInt32;                 # real uid
  startWallNs @3 :Int64;          # start time, ns since the epoch (guest clock)
  cpuTimeNs @4 :UInt64;           # user + system
  tty @5 :Text;                   # "pts/0", or "?" without a controlling terminal
  cmdline @6 :List(Text);         # argv; empty for a kernel thread or a zombie
  comm @7 :Text;                  # the command name (/proc/<pid>/comm)
  state @8 :Text;                 # one letter, as ps's S column
}

struct ProcessSpec {
  execId @0 :Text;                # unique within the container, same rule as container ids
  processJson @1 :Data;           # an OCI "process" object (at most 1 MiB)
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
  memoryLimitBytes @3 :UInt64;
  oomKills @4 :UInt64;
}

interface Process {
  pid @0 () -> (pid :Int32);
  wait @1 () -> (status :ExitStatus);
  # Resolves when the process has exited and its output has been delivered (end() was called).
  signal @2 (signal :Int32) -> ();
  resizeTty @3 (rows :UInt16, cols :UInt16) -> ();
  # Only for a process with a terminal.
  stdin @4 () -> (stream :ByteStream);
  # The process's standard input (the pty with a terminal). end() closes it, as closeStdin does.
  closeStdin @5 () -> ();
}

struct ExitStatus {
  code @2 :Int32;                 # what a shell reports: the exit code, or 128 + signal number
  union {
    exited @0 :Int32;             # exit code
    signaled @1 :Int32;           # signal number
  }
}

interface ByteStream {
  write @0 (data :Data) -> stream;
  # At most 1 MiB per call.
  end @1 () -> ();
}
