// netdev against the real kernel (root): namespaces the test creates, a veth pair between a "pod"
// namespace and a "peer" one (the peer stands for the bridge side), and the two models that carry
// the pod's interface to a VMM descriptor. The test plays the VMM: it reads the tap/macvtap
// descriptors and writes frames into them, and proves datagrams flow both ways through the mirred
// filters, then that teardown leaves nothing. `ip`/`tc` are the independent oracle for what exists.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <thread>

#include "common/error.h"
#include "common/fs.h"
#include "netdev/carrier.h"
#include "netdev/netns.h"
#include "netdev/rtnl.h"
#include "netdev/tap.h"
#include "tests/support/net_fixture.h"

namespace kata::netdev {
namespace {

using kata::test::Frame;
using kata::test::NamedNetns;
using kata::test::sh;
using namespace std::chrono_literals;

constexpr size_t kVnetHdr = 10;  // sizeof(struct virtio_net_hdr): the default until TUNSETVNETHDRSZ

class NetdevTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, taps)";
    pod_ = std::make_unique<NamedNetns>(kata::test::uniqueName("knp"));
    peer_ = std::make_unique<NamedNetns>(kata::test::uniqueName("knq"));
    // veth: eth0 in the pod namespace, peer0 in the peer namespace (a CNI bridge plugin would put the
    // peer on a bridge; for the data path it is the same).
    std::string tmp = kata::test::uniqueName("kvt");
    sh("ip link add " + tmp + " type veth peer name peer0 netns " + peer_->name());
    sh("ip link set " + tmp + " netns " + pod_->name() + " name eth0");
    pod_->ip("link set eth0 mtu 1400 up");
    peer_->ip("link set peer0 up");
    pod_->ip("addr add 10.250.7.2/24 dev eth0");
    pod_->ip("addr add fd00:250:7::2/64 dev eth0 nodad");
    pod_->ip("route add default via 10.250.7.1");
    pod_->ip("-6 route add default via fd00:250:7::1");
    peer_->ip("addr add 10.250.7.1/24 dev peer0");
    peer_->ip("addr add fd00:250:7::1/64 dev peer0 nodad");
    podMac_ = macOf(*pod_, "eth0");
    peerMac_ = macOf(*peer_, "peer0");
    // The peer needs no ARP/ND answer from the pod side (which the test would otherwise have to play).
    peer_->ip("neigh add 10.250.7.2 lladdr " + podMac_ + " dev peer0 nud permanent");
    peer_->ip("neigh add fd00:250:7::2 lladdr " + podMac_ + " dev peer0 nud permanent");
  }

  static std::string macOf(const NamedNetns& ns, const std::string& dev) {
    std::string out = ns.ip("-br link show dev " + dev);  // "eth0@if5  UP  aa:bb:... <...>"
    auto at = out.find(':', out.find("  ")) - 2;
    return out.substr(at, 17);
  }

  // A UDP socket bound in the peer namespace (opened on a thread inside it; usable from here).
  static UniqueFd peerSocket(const Netns& ns, int family, uint16_t port) {
    return ns.run([&] {
      UniqueFd s(KATA_SYSCALL(::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket"));
      if (family == AF_INET) {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        KATA_SYSCALL(::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), "bind");
      } else {
        sockaddr_in6 a{};
        a.sin6_family = AF_INET6;
        a.sin6_port = htons(port);
        KATA_SYSCALL(::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), "bind");
      }
      return s;
    });
  }

  static void sendTo(int sock, int family, const std::string& ip, uint16_t port, const std::string& data) {
    sockaddr_storage ss{};
    socklen_t len;
    if (family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_port = htons(port);
      ::inet_pton(AF_INET, ip.c_str(), &a->sin_addr);
      len = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(port);
      ::inet_pton(AF_INET6, ip.c_str(), &a->sin6_addr);
      len = sizeof *a;
    }
    KATA_SYSCALL(::sendto(sock, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&ss), len), "sendto");
  }

  static std::string recvWithin(int sock, std::chrono::milliseconds timeout) {
    pollfd p{sock, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return "";
    char buf[2048];
    ssize_t n = ::recv(sock, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

  // Both directions, both families, through the descriptors of `c`: a datagram the peer sends to the
  // pod's address arrives on a queue; a datagram the "guest" writes into a queue reaches the peer.
  void expectFramesFlow(const Connection& c) {
    Netns peer = Netns::open(peer_->path());
    std::vector<int> fds;
    for (const auto& q : c.queues) fds.push_back(q.get());
    struct Case { int family; std::string podIp, peerIp; } cases[] = {
        {AF_INET, "10.250.7.2", "10.250.7.1"}, {AF_INET6, "fd00:250:7::2", "fd00:250:7::1"}};
    uint16_t port = 40000;
    for (const auto& k : cases) {
      SCOPED_TRACE(k.podIp);
      UniqueFd s = peerSocket(peer, k.family, ++port);
      std::string hello = "hello-from-the-bridge-side-" + std::to_string(k.family);
      sendTo(s.get(), k.family, k.podIp, 7777, hello);
      auto f = kata::test::readFrame(fds, kVnetHdr, 5s, [&](const Frame& fr) { return fr.payload == hello; });
      ASSERT_TRUE(f) << "the datagram sent into the peer side never came out of the " << modelName(c.plumbing.model)
                     << " descriptors";
      EXPECT_EQ(f->dstMac, podMac_);
      EXPECT_EQ(f->srcMac, peerMac_);
      EXPECT_EQ(f->dstIp, k.podIp);
      EXPECT_EQ(f->dstPort, 7777);
      // The "guest" answers through the descriptor.
      Frame reply;
      reply.dstMac = peerMac_;
      reply.srcMac = podMac_;
      reply.ipFamily = k.family;
      reply.srcIp = k.podIp;
      reply.dstIp = k.peerIp;
      reply.srcPort = 7777;
      reply.dstPort = port;
      reply.payload = "reply-from-the-guest-" + std::to_string(k.family);
      std::string bytes = kata::test::buildUdpFrame(reply, kVnetHdr);
      ASSERT_EQ(::write(fds.back(), bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
      EXPECT_EQ(recvWithin(s.get(), 5000ms), reply.payload) << "the frame written into the descriptor never reached the peer";
    }
  }

  std::unique_ptr<NamedNetns> pod_, peer_;
  std::string podMac_, peerMac_;
};

TEST_F(NetdevTest, NetnsByDescriptorRunsOnItsOwnThread) {
  Netns ns = Netns::open(pod_->path());
  Netns here = Netns::current();
  EXPECT_FALSE(ns == here);
  // Inside run() the thread is in the pod's namespace; the calling thread never moves.
  std::string inside = ns.run([] { return kata::readFile("/proc/thread-self/net/dev", 1 << 16); });
  EXPECT_NE(inside.find("eth0:"), std::string::npos) << inside;
  EXPECT_TRUE(Netns::current() == here);
  // Exceptions cross back.
  EXPECT_THROW(ns.run([]() -> int { fail(ErrorKind::kInternal, "inside"); }), Error);
  // Non-namespace descriptors are refused by type.
  UniqueFd file(::open("/etc/hostname", O_RDONLY | O_CLOEXEC));
  try {
    Netns::fromFd(file.get(), "the netns of sandbox t");
    ADD_FAILURE() << "a regular file was taken for a namespace";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("the netns of sandbox t is not a namespace file"), std::string::npos) << e.what();
  }
  UniqueFd user(::open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC));
  try {
    Netns::fromFd(user.get(), "fd");
    ADD_FAILURE() << "a user namespace was taken for a network namespace";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a network namespace"), std::string::npos) << e.what();
  }
}

TEST_F(NetdevTest, OwnershipOfRootAndUserNamespaceNetworks) {
  NetnsOwnership own = netnsOwnership(Netns::open(pod_->path()));
  EXPECT_TRUE(own.ownedByOurUserns);
  EXPECT_TRUE(own.userChain.empty());
  EXPECT_FALSE(own.isOurNetns);
  EXPECT_TRUE(netnsOwnership(Netns::current()).isOurNetns);

  // A namespace an unprivileged uid made (rootless podman's way): owned by that uid's user namespace.
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  if (child == 0) {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) ::_exit(1);
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) ::_exit(2);
    (void)!::write(ready[1], "x", 1);
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  char c;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  Netns userNet = Netns::open("/proc/" + std::to_string(child) + "/ns/net");
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  own = netnsOwnership(userNet);  // the descriptor keeps it alive after its last process
  EXPECT_FALSE(own.ownedByOurUserns);
  ASSERT_EQ(own.userChain.size(), 1u);
  EXPECT_EQ(own.userChain[0], 65534u);
  EXPECT_FALSE(own.isOurNetns);
}

TEST_F(NetdevTest, PinKeepsTheNamespaceAcrossItsDeletion) {
  std::string dir = "/tmp/" + kata::test::uniqueName("knpin");
  kata::makeDirs(dir, 0700);
  std::string pin = dir + "/ns";
  NsId id;
  {
    Netns ns = Netns::open(pod_->path());
    id = ns.id();
    pinNetns(ns, pin);
  }
  EXPECT_THROW(pinNetns(Netns::open(pod_->path()), pin), Error);  // the pin exists
  // The engine deletes its name for it; the pin keeps it reachable, interfaces and all.
  sh("ip netns del " + pod_->name());
  Netns again = Netns::open(pin);
  EXPECT_EQ(again.id(), id);
  Rtnl rtnl = Rtnl::openIn(again);
  EXPECT_TRUE(rtnl.linkByName("eth0").has_value());
  unpinNetns(pin);
  EXPECT_FALSE(kata::pathExists(pin));
  EXPECT_EQ(kata::readFile("/proc/self/mountinfo", 1 << 20).find(pin), std::string::npos);
  unpinNetns(pin);  // twice is fine
  ::rmdir(dir.c_str());
}

TEST_F(NetdevTest, DescribeReadsInterfacesAddressesAndRoutes) {
  Rtnl rtnl = Rtnl::openIn(Netns::open(pod_->path()));
  auto ifs = describeNamespace(rtnl);
  ASSERT_EQ(ifs.size(), 1u);
  const Interface& i = ifs[0];
  EXPECT_EQ(i.link.name, "eth0");
  EXPECT_EQ(i.link.type, LinkType::kVeth);
  EXPECT_EQ(i.link.mac, podMac_);
  EXPECT_EQ(i.link.mtu, 1400u);
  std::vector<std::string> addrs;
  for (const auto& a : i.addresses) addrs.push_back(a.str());
  EXPECT_EQ(addrs, (std::vector<std::string>{"10.250.7.2/24", "fd00:250:7::2/64"}));
  std::vector<std::string> routes;
  for (const auto& r : i.routes) routes.push_back(r.str());
  std::sort(routes.begin(), routes.end());
  EXPECT_EQ(routes, (std::vector<std::string>{"10.250.7.0/24 dev eth0 src 10.250.7.2 metric 0",
                                               "default via 10.250.7.1 dev eth0 metric 0",
                                               "default via fd00:250:7::1 dev eth0 metric 1024",
                                               "fd00:250:7::/64 dev eth0 metric 256"}));
  // An interface that cannot be carried, once in use, is named.
  pod_->ip("link add br7 type bridge");
  EXPECT_EQ(describeNamespace(rtnl).size(), 1u);  // down, no address: nobody uses it
  pod_->ip("link set br7 up");
  try {
    describeNamespace(rtnl);
    ADD_FAILURE() << "a bridge in use was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotSupported);
    EXPECT_NE(std::string(e.what()).find("interface br7 of the network namespace is of type bridge"), std::string::npos)
        << e.what();
  }
}

TEST_F(NetdevTest, TcFilterRedirectsBothWaysAndTearsDownExactly) {
  Netns ns = Netns::open(pod_->path());
  Rtnl rtnl = Rtnl::openIn(ns);
  auto pod = rtnl.linkByName("eth0");
  ASSERT_TRUE(pod);
  ConnectOptions o;
  o.queues = 2;
  o.owner = 65534;
  o.group = 65534;
  Connection c = connectInterface(ns, rtnl, *pod, Model::kTcFilter, o);
  ASSERT_EQ(c.queues.size(), 2u);
  const std::string tap = c.plumbing.device;
  EXPECT_EQ(tap, "tap" + std::to_string(pod->index) + "_kata");
  // What the kernel says exists (independently of libnl): a multi-queue vnet_hdr tap, owned by the
  // VMM's uid, with the pod's MTU, and a mirred redirect each way.
  std::string details = pod_->ip("-d link show dev " + tap);
  EXPECT_NE(details.find("mtu 1400"), std::string::npos) << details;
  EXPECT_NE(details.find("tun type tap pi off vnet_hdr on multi_queue numqueues 2"), std::string::npos) << details;
  EXPECT_NE(details.find("user nobody group nogroup"), std::string::npos) << details;  // 65534
  std::string f1 = sh("tc -n " + pod_->name() + " filter show dev eth0 ingress");
  EXPECT_NE(f1.find("mirred (Egress Redirect to device " + tap + ") stolen"), std::string::npos) << f1;
  EXPECT_NE(f1.find("match 00000000/00000000 at 0"), std::string::npos) << f1;
  std::string f2 = sh("tc -n " + pod_->name() + " filter show dev " + tap + " ingress");
  EXPECT_NE(f2.find("mirred (Egress Redirect to device eth0) stolen"), std::string::npos) << f2;
  // An existing tap name is never attached to.
  EXPECT_THROW(connectInterface(ns, rtnl, *pod, Model::kTcFilter, o), Error);

  expectFramesFlow(c);

  disconnectInterface(rtnl, c.plumbing);
  c.queues.clear();
  EXPECT_TRUE(leftovers(rtnl, c.plumbing).empty());
  std::string q = sh("tc -n " + pod_->name() + " qdisc show dev eth0");
  EXPECT_EQ(q.find("ingress"), std::string::npos) << q;
  EXPECT_EQ(sh("tc -n " + pod_->name() + " filter show dev eth0 ingress"), "");
  EXPECT_EQ(pod_->ip("-br link show").find(tap), std::string::npos);
  // The pod's interface is as it was: up, its addresses and routes untouched.
  EXPECT_NE(pod_->ip("-br addr show dev eth0").find("10.250.7.2/24 fd00:250:7::2/64"), std::string::npos);
  EXPECT_NE(pod_->ip("route show default").find("via 10.250.7.1"), std::string::npos);
  disconnectInterface(rtnl, c.plumbing);  // twice is fine: nothing left to remove
}

TEST_F(NetdevTest, TapGoesWithItsLastDescriptorAndTeardownStillCleansTheVeth) {
  Netns ns = Netns::open(pod_->path());
  Rtnl rtnl = Rtnl::openIn(ns);
  Connection c = connectInterface(ns, rtnl, *rtnl.linkByName("eth0"), Model::kTcFilter, {});
  c.queues.clear();  // QEMU exited
  for (int i = 0; i < 50 && rtnl.linkByName(c.plumbing.device); ++i) std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(rtnl.linkByName(c.plumbing.device));
  auto left = leftovers(rtnl, c.plumbing);
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0], "ingress qdisc on eth0");
  disconnectInterface(rtnl, c.plumbing);
  EXPECT_TRUE(leftovers(rtnl, c.plumbing).empty());
}

TEST_F(NetdevTest, MacvtapCarriesFramesAndTearsDownExactly) {
  Netns ns = Netns::open(pod_->path());
  Rtnl rtnl = Rtnl::openIn(ns);
  ConnectOptions o;
  o.queues = 2;
  Connection c = connectInterface(ns, rtnl, *rtnl.linkByName("eth0"), Model::kMacvtap, o);
  ASSERT_EQ(c.queues.size(), 2u);
  std::string details = pod_->ip("-d link show dev " + c.plumbing.device);
  EXPECT_NE(details.find("macvtap mode passthru"), std::string::npos) << details;
  EXPECT_NE(details.find("mtu 1400"), std::string::npos) << details;
  // Each descriptor is our macvtap's (the name check openMacvtap makes).
  ifreq ifr{};
  ASSERT_EQ(::ioctl(c.queues[0].get(), TUNGETIFF, &ifr), 0);
  EXPECT_EQ(std::string(ifr.ifr_name), c.plumbing.device);
  EXPECT_NE(ifr.ifr_flags & IFF_VNET_HDR, 0);

  expectFramesFlow(c);

  disconnectInterface(rtnl, c.plumbing);
  c.queues.clear();
  EXPECT_TRUE(leftovers(rtnl, c.plumbing).empty());
  EXPECT_EQ(pod_->ip("-br link show").find(c.plumbing.device), std::string::npos);
  std::string q = sh("tc -n " + pod_->name() + " qdisc show dev eth0");
  EXPECT_EQ(q.find("ingress"), std::string::npos) << q;
  // A node of another namespace's macvtap is refused by name.
  EXPECT_THROW(openMacvtap(1, "kmvtdeadbeef", 1, "/nonexistent"), Error);
}

TEST_F(NetdevTest, AddressesAndRoutesChangedThroughRtnl) {
  // What the guest agent does to its own interface, done here to a namespace: rename, MTU, MAC,
  // addresses (IPv6 without DAD), on-link and gateway routes of both families, and removal.
  Rtnl rtnl = Rtnl::openIn(Netns::open(peer_->path()));
  auto l = rtnl.linkByName("peer0");
  ASSERT_TRUE(l);
  Rtnl::LinkChange down;
  down.up = false;
  rtnl.changeLink(l->index, down);
  Rtnl::LinkChange ch;
  ch.name = "net9";
  ch.mtu = 1300;
  ch.mac = "02:AA:BB:CC:DD:01";
  ch.up = true;
  rtnl.changeLink(l->index, ch);
  auto n = rtnl.linkByName("net9");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->mtu, 1300u);
  EXPECT_EQ(n->mac, "02:aa:bb:cc:dd:01");
  EXPECT_TRUE(n->up());
  EXPECT_EQ(rtnl.linkByMac("02:aa:bb:cc:dd:01")->name, "net9");
  rtnl.addAddress(n->index, parseCidr("10.251.0.5/16", "a"), true);
  rtnl.addAddress(n->index, parseCidr("fd00:251::5/64", "a"), true);
  std::string a6 = peer_->ip("-6 addr show dev net9");
  EXPECT_NE(a6.find("inet6 fd00:251::5/64 scope global nodad \n"), std::string::npos) << a6;
  Route onlink{AF_INET, "10.252.0.0/24", "", "net9", n->index, "", 5, 0, 0, 254};
  Route gw{AF_INET, "10.253.0.0/24", "10.252.0.1", "net9", n->index, "", 0, 0, 0, 254};
  Route gw6{AF_INET6, "default", "fd00:251::1", "net9", n->index, "", 1024, 0, 0, 254};
  for (const auto& r : onLinkFirst({gw, gw6, onlink})) rtnl.addRoute(r);
  rtnl.addRoute(gw);  // replace, not duplicate
  std::string shown = peer_->ip("route show dev net9") + peer_->ip("-6 route show dev net9");
  EXPECT_NE(shown.find("10.252.0.0/24 scope link metric 5"), std::string::npos) << shown;
  EXPECT_NE(shown.find("10.253.0.0/24 via 10.252.0.1 \n"), std::string::npos) << shown;
  EXPECT_NE(shown.find("default via fd00:251::1 metric 1024"), std::string::npos) << shown;
  int found = 0;
  for (const auto& r : rtnl.routes())
    if (r.device == "net9" && (r == onlink || r == gw || r == gw6)) ++found;
  EXPECT_EQ(found, 3);
  for (const auto& r : rtnl.routes())
    if (r.device == "net9" && r.destination == "10.253.0.0/24") rtnl.deleteRoute(r);
  EXPECT_EQ(peer_->ip("route show dev net9").find("10.253.0.0/24"), std::string::npos);
  rtnl.deleteAddress(n->index, parseCidr("10.251.0.5/16", "a"));
  auto addrs = rtnl.addresses(n->index);
  for (const auto& a : addrs) EXPECT_NE(a.address, "10.251.0.5");
  // Errors name the object and the kernel's answer.
  try {
    rtnl.addRoute(Route{AF_INET, "10.254.0.0/24", "10.99.0.1", "net9", n->index, "", 0, 0, 0, 254});
    ADD_FAILURE() << "a route through an unreachable gateway was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("add route 10.254.0.0/24 via 10.99.0.1 dev net9"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kata::netdev
