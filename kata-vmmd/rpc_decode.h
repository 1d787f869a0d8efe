// Decoding and validation of vmmd RPC requests: Cap'n Proto readers (hostile bytes from any local
// uid the policy admits) into the daemon's own types. Everything a handler uses passes through here,
// and everything here is bounded; the fuzz target tests/fuzz/vmmd_request_fuzz.cc drives it.
#pragma once

#include <capnp/message.h>

#include "ipc/vmmd.capnp.h"
#include "kata-vmmd/hypervisor.h"
#include "kata-vmmd/sandbox_manager.h"

namespace kata::vmmd {

// Limits for every message the daemon reads: 1 Mi words (8 MiB) of traversal, nesting depth 16.
capnp::ReaderOptions vmmdReaderOptions();
// The most fds one message may carry (kernel + initrd, a share directory, a block file).
inline constexpr unsigned kMaxFdsPerMessage = 4;

// The scalar part of a VmSpec; the kernel/initrd Fd capabilities are resolved by the server.
CreateRequest decodeVmSpec(ipc::vmmd::VmSpec::Reader spec);
// An emulated or VFIO device (a block device needs the fd, which the server resolves).
Device decodeDevice(ipc::vmmd::Device::Reader device);
std::string decodeText(capnp::Text::Reader text, size_t maxBytes, const std::string& what);

}  // namespace kata::vmmd
