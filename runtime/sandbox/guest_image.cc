#include "runtime/sandbox/guest_image.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/fd.h"
#include "common/fs.h"
#include "common/sha256.h"

namespace kata::sandbox {
namespace {

constexpr size_t kMaxManifestBytes = 1 << 20;

[[noreturn]] void bad(const std::string& dir, const std::string& what) {
  fail(ErrorKind::kInvalidArgument, "guest image " + dir + ": " + what +
                                        "; rebuild it with guest/build-image.sh (the guest-image build target)");
}

// A file name from the manifest: a plain name inside the image directory, nothing else.
std::string imageFile(const std::string& dir, const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    bad(dir, "manifest names the file \"" + name + "\", which is not a plain file name");
  return dir + "/" + name;
}

uint64_t fileSize(const std::string& dir, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) bad(dir, "cannot stat " + path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) bad(dir, path + " is not a regular file");
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace

GuestImage GuestImage::load(const std::string& dir) {
  auto text = readFileIfExists(AT_FDCWD, dir + "/manifest.json", kMaxManifestBytes);
  if (!text)
    fail(ErrorKind::kNotFound, "no guest image in " + dir + " (manifest.json missing): build it with "
                               "guest/build-image.sh (the guest-image build target) or set hypervisor.guest_image");
  GuestImage img;
  img.dir = dir;
  try {
    auto m = nlohmann::json::parse(*text);
    int format = m.at("format").get<int>();
    if (format != kManifestFormat)
      bad(dir, "manifest format " + std::to_string(format) + ", this runtime reads format " +
                   std::to_string(kManifestFormat));
    const auto& boot = m.at("boot");
    std::string kernelName = boot.at("kernel").get<std::string>();
    std::string initrdName = boot.at("initramfs").get<std::string>();
    img.kernel = imageFile(dir, kernelName);
    img.initramfs = imageFile(dir, initrdName);
    img.cmdline = boot.at("cmdline").get<std::string>();
    std::string channel = boot.at("agent_channel").get<std::string>();
    if (channel != kAgentChannelName)
      bad(dir, "its agent serves the port \"" + channel + "\", but kata-vmmd gives the agent the port \"" +
                   kAgentChannelName + "\"");
    img.kernelRelease = m.at("kernel").at("release").get<std::string>();
    img.agentBuildId = m.at("agent").at("build_id").get<std::string>();
    img.modules = m.at("modules").get<std::vector<std::string>>();
    std::vector<std::string>& builtin = img.builtinModules;
    if (m.contains("builtin_modules")) builtin = m.at("builtin_modules").get<std::vector<std::string>>();
    for (const auto& need : kRequiredModules) {
      auto has = [&](const std::vector<std::string>& v) { return std::find(v.begin(), v.end(), need) != v.end(); };
      if (!has(img.modules) && !has(builtin)) bad(dir, "it lacks the kernel module " + need + ", which the runtime needs");
    }
    const auto& files = m.at("files");
    img.kernelSize = files.at(kernelName).at("size").get<uint64_t>();
    img.kernelSha256 = files.at(kernelName).at("sha256").get<std::string>();
    img.initramfsSize = files.at(initrdName).at("size").get<uint64_t>();
    img.initramfsSha256 = files.at(initrdName).at("sha256").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    bad(dir, std::string("manifest.json is malformed: ") + e.what());
  }
  for (auto [path, size] : {std::pair{img.kernel, img.kernelSize}, std::pair{img.initramfs, img.initramfsSize}}) {
    uint64_t actual = fileSize(dir, path);
    if (actual != size)
      bad(dir, path + " has " + std::to_string(actual) + " bytes, the manifest says " + std::to_string(size));
  }
  return img;
}

void GuestImage::verifyHashes() const {
  for (auto [path, want] : {std::pair{kernel, kernelSha256}, std::pair{initramfs, initramfsSha256}}) {
    std::string got = sha256File(path);
    if (got != want) bad(dir, path + " has SHA-256 " + got + ", the manifest says " + want);
  }
}

std::string sha256File(const std::string& path) {
  UniqueFd fd(KATA_SYSCALL(::open(path.c_str(), O_RDONLY | O_CLOEXEC), "open " + path));
  Sha256 h;
  std::string buf(1 << 16, '\0');
  for (;;) {
    ssize_t n = KATA_SYSCALL(::read(fd.get(), buf.data(), buf.size()), "read " + path);
    if (n == 0) break;
    h.update(buf.data(), static_cast<size_t>(n));
  }
  return h.finishHex();
}

bool GuestImage::hasModule(const std::string& name) const {
  return std::find(modules.begin(), modules.end(), name) != modules.end() ||
         std::find(builtinModules.begin(), builtinModules.end(), name) != builtinModules.end();
}

std::string defaultGuestImageDir() {
  char exe[4096];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    std::string self(exe, static_cast<size_t>(n));
    std::string binDir = self.substr(0, self.rfind('/'));
    std::string candidate = binDir.substr(0, binDir.rfind('/')) + "/guest";
    if (pathExists(candidate + "/manifest.json")) return candidate;
  }
  return "/usr/share/kata-ctl/guest";
}

}  // namespace kata::sandbox
