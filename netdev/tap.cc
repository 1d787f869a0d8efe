#include "netdev/tap.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cstring>

#include "common/error.h"
#include "netdev/model.h"

namespace kata::netdev {
namespace {

void checkQueues(unsigned queues, const std::string& name) {
  if (queues == 0 || queues > kMaxQueues)
    fail(ErrorKind::kInvalidArgument, "tap " + name + ": " + std::to_string(queues) + " queues is out of range 1-" +
                                          std::to_string(kMaxQueues));
}

}  // namespace

std::vector<UniqueFd> createTap(const Netns& ns, const TapOptions& o) {
  validateIfName(o.name, "tap name");
  checkQueues(o.queues, o.name);
  // /dev/net/tun binds the tap to the namespace of the thread that opens it: open inside.
  return ns.run([&o] {
    std::vector<UniqueFd> fds;
    for (unsigned q = 0; q < o.queues; ++q) {
      UniqueFd fd(KATA_SYSCALL(::open(o.devNetTun.c_str(), O_RDWR | O_CLOEXEC), o.devNetTun));
      ifreq ifr{};
      std::strncpy(ifr.ifr_name, o.name.c_str(), IFNAMSIZ - 1);
      ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
      if (q == 0) ifr.ifr_flags |= IFF_TUN_EXCL;
      if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0) {
        if (errno == EBUSY && q == 0)
          fail(ErrorKind::kAlreadyExists, "an interface named " + o.name + " exists in the network namespace already");
        throwSysError(errno, "TUNSETIFF " + o.name + " queue " + std::to_string(q));
      }
      if (q == 0) {
        if (o.owner) KATA_SYSCALL(::ioctl(fd.get(), TUNSETOWNER, static_cast<unsigned long>(*o.owner)), "TUNSETOWNER " + o.name);
        if (o.group) KATA_SYSCALL(::ioctl(fd.get(), TUNSETGROUP, static_cast<unsigned long>(*o.group)), "TUNSETGROUP " + o.name);
      }
      fds.push_back(std::move(fd));
    }
    return fds;
  });
}

std::vector<UniqueFd> openMacvtap(int ifindex, const std::string& name, unsigned queues, const std::string& devDir) {
  validateIfName(name, "macvtap name");
  checkQueues(queues, name);
  std::string path = devDir + "/tap" + std::to_string(ifindex);
  std::vector<UniqueFd> fds;
  for (unsigned q = 0; q < queues; ++q) {
    UniqueFd fd(KATA_SYSCALL(::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY), "open " + path));
    ifreq ifr{};
    KATA_SYSCALL(::ioctl(fd.get(), TUNGETIFF, &ifr), "TUNGETIFF " + path);
    std::string got(ifr.ifr_name, ::strnlen(ifr.ifr_name, IFNAMSIZ));
    if (got != name)
      fail(ErrorKind::kFailedPrecondition, path + " is the macvtap " + got + " of another network namespace, not " + name +
                                               " (devtmpfs names macvtap nodes by ifindex only); retry");
    fds.push_back(std::move(fd));
  }
  return fds;
}

std::string randomName(const std::string& prefix) {
  if (prefix.size() > 7) fail(ErrorKind::kInvalidArgument, "interface name prefix " + prefix + " is too long");
  unsigned char bytes[4];
  KATA_SYSCALL(::getrandom(bytes, sizeof bytes, 0), "getrandom");
  static const char* hex = "0123456789abcdef";
  std::string s = prefix;
  for (unsigned char b : bytes) {
    s += hex[b >> 4];
    s += hex[b & 0xf];
  }
  return s;
}

}  // namespace kata::netdev
