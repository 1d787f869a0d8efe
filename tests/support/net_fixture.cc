#include "tests/support/net_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include "common/error.h"

namespace kata::test {
namespace {

uint16_t get16(const std::string& b, size_t at) {
  return static_cast<uint16_t>((static_cast<unsigned char>(b[at]) << 8) | static_cast<unsigned char>(b[at + 1]));
}
void put16(std::string& b, size_t at, uint16_t v) {
  b[at] = static_cast<char>(v >> 8);
  b[at + 1] = static_cast<char>(v & 0xff);
}

std::string macBytes(const std::string& mac) {
  std::string out;
  for (size_t i = 0; i < 17; i += 3) out += static_cast<char>(std::stoul(mac.substr(i, 2), nullptr, 16));
  return out;
}
std::string macText(const std::string& b, size_t at) {
  char buf[18];
  const auto* p = reinterpret_cast<const unsigned char*>(b.data() + at);
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", p[0], p[1], p[2], p[3], p[4], p[5]);
  return buf;
}

uint32_t sum16(const std::string& b, size_t from, size_t len, uint32_t acc = 0) {
  for (size_t i = 0; i + 1 < len; i += 2) acc += get16(b, from + i);
  if (len % 2) acc += static_cast<uint32_t>(static_cast<unsigned char>(b[from + len - 1])) << 8;
  return acc;
}
uint16_t fold(uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(~acc & 0xffff);
}

}  // namespace

CommandResult runCommand(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                         const std::string& stdinData) {
  int out[2], in[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0) throwSysError(errno, "pipe2");
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    if (env.empty()) ::execvp(args[0], args.data());
    else ::execvpe(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(in[0]);
  if (!stdinData.empty()) (void)!::write(in[1], stdinData.data(), stdinData.size());
  ::close(in[1]);
  CommandResult r;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(out[0], buf, sizeof buf)) > 0) r.output.append(buf, static_cast<size_t>(n));
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string sh(const std::string& script) {
  CommandResult r = runCommand({"/bin/sh", "-c", script});
  if (r.status != 0) throw std::runtime_error("`" + script + "` failed (" + std::to_string(r.status) + "): " + r.output);
  return r.output;
}

NamedNetns::NamedNetns(std::string name) : name_(std::move(name)) {
  runCommand({"ip", "netns", "del", name_});  // a leftover of a crashed run with our pid
  sh("ip netns add " + name_);
  sh("ip -n " + name_ + " link set lo up");
}

NamedNetns::~NamedNetns() { runCommand({"ip", "netns", "del", name_}); }

std::string NamedNetns::ip(const std::string& args) const { return sh("ip -n " + name_ + " " + args); }

std::string uniqueName(const std::string& prefix) { return prefix + std::to_string(::getpid() % 100000000); }

Frame parseFrame(const std::string& bytes, size_t vnetHdr) {
  Frame f;
  if (bytes.size() < vnetHdr + 14) return f;
  std::string b = bytes.substr(vnetHdr);
  f.dstMac = macText(b, 0);
  f.srcMac = macText(b, 6);
  f.etherType = get16(b, 12);
  size_t ip = 14, udp = 0;
  char addr[INET6_ADDRSTRLEN];
  if (f.etherType == 0x0800 && b.size() >= ip + 20) {
    size_t ihl = (static_cast<unsigned char>(b[ip]) & 0xf) * 4u;
    if (static_cast<unsigned char>(b[ip + 9]) != 17 || b.size() < ip + ihl + 8) return f;
    f.ipFamily = AF_INET;
    f.srcIp = ::inet_ntop(AF_INET, b.data() + ip + 12, addr, sizeof addr);
    f.dstIp = ::inet_ntop(AF_INET, b.data() + ip + 16, addr, sizeof addr);
    udp = ip + ihl;
  } else if (f.etherType == 0x86dd && b.size() >= ip + 40) {
    if (static_cast<unsigned char>(b[ip + 6]) != 17 || b.size() < ip + 48) return f;
    f.ipFamily = AF_INET6;
    f.srcIp = ::inet_ntop(AF_INET6, b.data() + ip + 8, addr, sizeof addr);
    f.dstIp = ::inet_ntop(AF_INET6, b.data() + ip + 24, addr, sizeof addr);
    udp = ip + 40;
  } else {
    return f;
  }
  f.srcPort = get16(b, udp);
  f.dstPort = get16(b, udp + 2);
  size_t len = get16(b, udp + 4);
  if (len >= 8 && udp + len <= b.size()) f.payload = b.substr(udp + 8, len - 8);
  return f;
}

std::string buildUdpFrame(const Frame& f, size_t vnetHdr) {
  std::string b(vnetHdr, '\0');
  b += macBytes(f.dstMac) + macBytes(f.srcMac);
  b += std::string(2, '\0');
  put16(b, vnetHdr + 12, f.ipFamily == AF_INET6 ? 0x86dd : 0x0800);
  size_t ip = b.size();
  size_t udpLen = 8 + f.payload.size();
  std::string src(16, '\0'), dst(16, '\0');
  int alen = f.ipFamily == AF_INET6 ? 16 : 4;
  if (::inet_pton(f.ipFamily, f.srcIp.c_str(), src.data()) != 1 || ::inet_pton(f.ipFamily, f.dstIp.c_str(), dst.data()) != 1)
    throw std::runtime_error("buildUdpFrame: bad address");
  src.resize(alen);
  dst.resize(alen);
  if (f.ipFamily == AF_INET) {
    std::string h(20, '\0');
    h[0] = 0x45;
    put16(h, 2, static_cast<uint16_t>(20 + udpLen));
    h[8] = 64;
    h[9] = 17;
    h.replace(12, 4, src);
    h.replace(16, 4, dst);
    put16(h, 10, fold(sum16(h, 0, 20)));
    b += h;
  } else {
    std::string h(40, '\0');
    h[0] = 0x60;
    put16(h, 4, static_cast<uint16_t>(udpLen));
    h[6] = 17;
    h[7] = 64;
    h.replace(8, 16, src);
    h.replace(24, 16, dst);
    b += h;
  }
  std::string u(8, '\0');
  put16(u, 0, f.srcPort);
  put16(u, 2, f.dstPort);
  put16(u, 4, static_cast<uint16_t>(udpLen));
  u += f.payload;
  // Pseudo-header + UDP (mandatory for IPv6, and correct for IPv4 too).
  std::string pseudo = src + dst;
  uint32_t acc = sum16(pseudo, 0, pseudo.size());
  acc += 17 + static_cast<uint32_t>(udpLen);
  acc = sum16(u, 0, u.size(), acc);
  uint16_t c = fold(acc);
  put16(u, 6, c == 0 ? 0xffff : c);
  b += u;
  (void)ip;
  return b;
}

std::optional<Frame> readFrame(const std::vector<int>& fds, size_t vnetHdr, std::chrono::milliseconds timeout,
                               const std::function<bool(const Frame&)>& match) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<pollfd> p;
  for (int fd : fds) p.push_back(pollfd{fd, POLLIN, 0});
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return std::nullopt;
    int n = ::poll(p.data(), p.size(), static_cast<int>(left));
    if (n <= 0) continue;
    for (auto& e : p) {
      if (!(e.revents & POLLIN)) continue;
      char buf[65536 + 64];
      ssize_t got = ::read(e.fd, buf, sizeof buf);
      if (got <= 0) continue;
      Frame f = parseFrame(std::string(buf, static_cast<size_t>(got)), vnetHdr);
      if (match(f)) return f;
    }
  }
}

}  // namespace kata::test
