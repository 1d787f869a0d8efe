# The RPC surface of kata-vmmd, the root daemon (docs/vmmd-rpc.md).
#
# Capability-shaped: the bootstrap object a connection gets is bound to the caller's identity, taken
# from SO_PEERCRED when the connection was accepted (never from a message). Creating a VM returns a
# capability for that VM; a later connection (each kata-ctl call is a new process) re-obtains it with
# openVm(sandboxId), which only the VM's owner (or root) can do.
#
# File descriptors travel as `Fd` capabilities (Cap'n Proto fd passing over SCM_RIGHTS): the server
# side of an Fd returns the descriptor from Capability::Server::getFd(), the receiver calls
# Capability::Client::getFd(). Paths from clients are avoided: a client passes a descriptor it opened
# itself, which proves it may access the object and closes the check-then-use race.
@0x876dfc9869d92ff0;

$import "/capnp/c++.capnp".namespace("kata::ipc::vmmd");

interface Fd {
  # Carries one file descriptor; no methods.
}

struct Caller {
  uid @0 :UInt32;
  gid @1 :UInt32;
  pid @2 :Int32;
  groups @3 :List(UInt32);  # supplementary groups (SO_PEERGROUPS), as the kernel recorded them at connect
}

struct VmSpec {
  sandboxId @0 :Text;     # [A-Za-z0-9][A-Za-z0-9_.-]{0,63}
  vcpus @1 :UInt32;       # 1..policy limit
  memoryMiB @2 :UInt64;   # 64..policy limit
  accel @3 :Text;         # "auto" | "kvm" | "tcg"; empty: the daemon's default
  kernel @4 :Fd;          # optional: an open guest kernel image (the client proves it may read it)
  initrd @5 :Fd;          # optional
  kernelCmdline @6 :Text; # at most 4096 bytes
  startPaused @7 :Bool;   # CPUs wait for Vm.start() (QEMU -S); also the case when there is no kernel
  hotplugSlots @8 :UInt32; # free slots for devices added later (0..16)
  sharedFs @9 :Text;      # how the share root reaches the guest (mount tag "kataShared"): "virtio-9p"
                          # (also when empty) or "virtio-fs" (needs [vm] virtiofsd in the daemon's policy)
  # The pod's network (docs/networking.md). netns: a network namespace the client opened itself
  # (/proc/<pid>/ns/net, /run/netns/<name>); the daemon checks the caller may use it (root, a
  # namespace of a user namespace the caller owns, or [network] trusted_uids) and carries each of
  # its interfaces into the VM as a NIC with the same MAC, cold-plugged. QEMU runs inside it.
  netns @10 :Fd;
  networkModel @11 :Text; # "tcfilter" (default) | "macvtap"
  netQueues @12 :UInt32;  # queues per NIC (multi-queue taps); 0: 1
}

enum VmState {
  unknown @0;
  created @1;   # process up, CPUs not started
  running @2;
  paused @3;
  stopped @4;   # the hypervisor process is gone (stopped by a call, or died, also while vmmd was down)
}

struct VmInfo {
  sandboxId @0 :Text;
  ownerUid @1 :UInt32;
  state @2 :VmState;
  pid @3 :Int32;          # hypervisor process; -1 once stopped
  vcpus @4 :UInt32;
  memoryMiB @5 :UInt64;
  detail @6 :Text;        # the hypervisor's own word for the state, or why it stopped
  adopted @7 :Bool;       # re-adopted from the registry after a daemon restart
}

struct VmStats {
  memoryBaseBytes @0 :UInt64;
  memoryPluggedBytes @1 :UInt64;
  balloonActualBytes @2 :UInt64;  # 0 when there is no balloon
  vcpus @3 :UInt32;
}

# One pod interface carried into the VM, as the client needs it to configure the guest (through the
# agent, which kata-vmmd never talks to): the guest NIC has `mac`, and should get `name`, `mtu`,
# `addresses` and `routes`.
struct NetInterface {
  name @0 :Text;          # in the pod's namespace, e.g. "eth0"
  mac @1 :Text;           # of the pod's interface, which the guest NIC has too
  mtu @2 :UInt32;
  type @3 :Text;          # veth | tap | macvlan | ipvlan | physical
  addresses @4 :List(NetAddress);  # IPv6 link-local ones left out (every kernel makes its own)
  routes @5 :List(NetRoute);       # main table, both families, through this interface
  deviceId @6 :Text;      # the VM's NIC ("nic<ifindex>")
  model @7 :Text;         # tcfilter | macvtap
  hostDevice @8 :Text;    # the tap or macvtap in the pod's namespace
  queues @9 :UInt32;
}

struct NetAddress {
  address @0 :Text;       # "10.88.0.5", "fd00::5"
  prefixLength @1 :UInt8;
}

struct NetRoute {
  destination @0 :Text;   # CIDR, or "default"
  gateway @1 :Text;       # empty: on-link
  device @2 :Text;
  source @3 :Text;
  family @4 :UInt8;       # 4 | 6
  metric @5 :UInt32;
}

struct Device {
  id @0 :Text;            # [A-Za-z0-9_-]{1,32}, unique in the VM
  union {
    emulated :group {     # an emulated device by driver name, on the policy's allow-list
      driver @1 :Text;
    }
    vfio :group {         # a host PCI function; its IOMMU group must be on the policy's allow-list
      hostBdf @2 :Text;   # "0000:3b:00.1"
    }
    block :group {        # a disk image or block device the client opened
      file @3 :Fd;
      readOnly @4 :Bool;
      format @5 :Text;    # "raw" | "qcow2"
    }
  }
}

interface Vm {
  info @0 () -> (info :VmInfo);
  start @1 ();                       # runs the CPUs of a VM created paused
  stop @2 (timeoutMs :UInt32) -> (info :VmInfo);   # powers off; the record stays (state stopped)
  pause @3 ();
  resume @4 ();
  status @5 () -> (info :VmInfo);    # asks the hypervisor (QMP), unlike info
  stats @6 () -> (stats :VmStats);
  hotplug @7 (device :Device);
  unplug @8 (deviceId :Text, timeoutMs :UInt32);
  # Bind-mounts the directory the client opened (dir) at <share root>/<name> of the sandbox's 9p
  # share (mount tag "kataShared"). Read-write only for a directory the caller owns.
  shareDirectory @9 (dir :Fd, name :Text, readOnly :Bool);
  unshareDirectory @10 (name :Text);
  # A new connection to the guest agent's channel (virtio-serial), and the console log (read-only).
  agentChannel @11 () -> (channel :Fd);
  console @12 () -> (log :Fd);
  # Stops the VM if needed and removes everything: process, mounts, sockets, run dir, record.
  destroy @13 (timeoutMs :UInt32);

  # --- network (docs/networking.md)
  attachNetwork @14 (netns :Fd, interfaceName :Text, model :Text, queues :UInt32)
      -> (interfaces :List(NetInterface));
  # Hot-plugs NICs for the interfaces of the pod's namespace that are not in the VM yet (the one
  # named, or all): creates the tap/macvtap and tc objects inside it, passes the descriptors to QEMU
  # (getfd, netdev_add, device_add into a free hot-plug slot). netns may be null for a sandbox that
  # has one already (created with VmSpec.netns, or attached before); another namespace than the
  # sandbox's is refused. Returns the interfaces it added.
  detachInterface @15 (name :Text, timeoutMs :UInt32);
  # Unplugs the NIC of the pod interface `name` (device_del, waiting for the guest's DEVICE_DELETED;
  # then netdev_del) and removes its tap/macvtap and tc objects. Configure the guest first
  # (agent removeInterface), or the guest may hold on to the device until the timeout.
  listNetwork @16 () -> (interfaces :List(NetInterface));
  # The carried interfaces, with addresses and routes as the pod's namespace has them now.
}

interface Vmmd {
  # The bootstrap capability, bound to the connecting process's SO_PEERCRED.
  whoami @0 () -> (caller :Caller);
  createVm @1 (spec :VmSpec) -> (vm :Vm, info :VmInfo, agentChannel :Fd, console :Fd);
  openVm @2 (sandboxId :Text) -> (vm :Vm, info :VmInfo);
  listVms @3 () -> (vms :List(VmInfo));  # the caller's own (root: all)
}
