// The guest image a sandbox VM boots: a directory made by guest/build-image.sh with manifest.json,
// the kernel and the initramfs whose /init is kata-agent. The runtime refuses an image that does
// not match its manifest or that this runtime cannot drive, before any VM is launched, and checks
// after boot that the agent which answers is the one the manifest names (Sandbox::start).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kata::sandbox {

// What the runtime needs of an image. A manifest of another format, or an image without these, is
// refused with a message naming the image and what to rebuild.
inline constexpr int kManifestFormat = 1;
inline constexpr const char* kAgentChannelName = "agent.channel.0";  // the port kata-vmmd gives the agent
// Kernel modules (or built-ins) the runtime relies on: the agent channel and the 9p share.
inline const std::vector<std::string> kRequiredModules = {"virtio_console", "9p", "9pnet_virtio"};
// And for a sandbox whose share is virtio-fs.
inline const std::vector<std::string> kVirtioFsModules = {"fuse", "virtiofs"};

struct GuestImage {
  std::string dir;
  std::string kernel;     // absolute path
  std::string initramfs;  // absolute path
  std::string cmdline;    // the command line the image was tuned for
  std::string kernelRelease;
  std::string agentBuildId;
  std::vector<std::string> modules;
  std::vector<std::string> builtinModules;  // built into its kernel
  bool hasModule(const std::string& name) const;
  uint64_t kernelSize = 0;
  uint64_t initramfsSize = 0;
  std::string kernelSha256;
  std::string initramfsSha256;

  // Reads dir/manifest.json and checks it (format, boot files present with the recorded sizes,
  // agent channel, required modules). Throws kNotFound when there is no manifest, kInvalidArgument
  // naming the image and the mismatch otherwise.
  static GuestImage load(const std::string& dir);
  // Also compares the SHA-256 of the kernel and initramfs with the manifest (reads both files).
  void verifyHashes() const;
};

// Where the image is when the configuration does not say: <directory of the running binary>/../guest
// (build/guest for build/bin/kata-ctl) when it has a manifest, else /usr/share/kata-ctl/guest.
std::string defaultGuestImageDir();

// Lower-case hex SHA-256 of a file (bounded by the file's size; used for image checks).
std::string sha256File(const std::string& path);

}  // namespace kata::sandbox
