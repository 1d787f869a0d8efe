#include "agent/identity.h"

#include <elf.h>
#include <link.h>
#include <sys/utsname.h>

#include <cstring>

#include "common/error.h"

#ifndef KATA_AGENT_VERSION
#define KATA_AGENT_VERSION "unknown"
#endif
#ifndef KATA_AGENT_COMMIT
#define KATA_AGENT_COMMIT "unknown"
#endif

namespace kata::agent {
namespace {

int findBuildId(struct dl_phdr_info* info, size_t, void* data) {
  auto* out = static_cast<std::string*>(data);
  // The first object is the executable itself; the vDSO and shared objects follow.
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
    const char* end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      ElfW(Nhdr) nh;
      std::memcpy(&nh, p, sizeof nh);
      size_t nameSz = (nh.n_namesz + 3u) & ~3u;
      size_t descSz = (nh.n_descsz + 3u) & ~3u;
      const char* name = p + sizeof nh;
      const char* desc = name + nameSz;
      if (desc + descSz > end) break;
      if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
        static const char kHex[] = "0123456789abcdef";
        for (size_t j = 0; j < nh.n_descsz; ++j) {
          auto b = static_cast<unsigned char>(desc[j]);
          out->push_back(kHex[b >> 4]);
          out->push_back(kHex[b & 15]);
        }
        return 1;
      }
      p = desc + descSz;
    }
  }
  return 1;  // only the executable is of interest
}

}  // namespace

std::string ownBuildId() {
  std::string id;
  dl_iterate_phdr(findBuildId, &id);
  return id;
}

AgentIdentity currentIdentity() {
  AgentIdentity id;
  id.version = KATA_AGENT_VERSION;
  id.commit = KATA_AGENT_COMMIT;
  id.buildId = ownBuildId();
  struct utsname u {};
  KATA_SYSCALL(::uname(&u), "uname");
  id.kernelRelease = u.release;
  return id;
}

}  // namespace kata::agent
