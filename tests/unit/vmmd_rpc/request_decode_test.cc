// The request decoding layer over the fuzz corpus (tests/fuzz/corpus/vmmd_request): valid messages
// decode to the expected values, hostile ones end in a clear error, malformed framing in a kj
// exception, never a crash.
#include <capnp/serialize.h>

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "common/error.h"
#include "common/fs.h"
#include "kata-vmmd/rpc_decode.h"

namespace kata::vmmd {
namespace {

std::vector<capnp::word> load(const std::string& name) {
  std::string bytes = readFile(std::string(KATA_SOURCE_DIR) + "/tests/fuzz/corpus/vmmd_request/" + name, 1 << 20);
  std::vector<capnp::word> words(bytes.size() / sizeof(capnp::word));
  std::memcpy(words.data(), bytes.data(), words.size() * sizeof(capnp::word));
  return words;
}

template <typename T>
typename T::Reader root(std::vector<capnp::word>& words, std::unique_ptr<capnp::FlatArrayMessageReader>& keep) {
  keep = std::make_unique<capnp::FlatArrayMessageReader>(kj::arrayPtr(words.data(), words.size()), vmmdReaderOptions());
  return keep->getRoot<T>();
}

std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const kj::Exception& e) {
    return std::string("kj: ") + e.getDescription().cStr();
  }
  return "ok";
}

TEST(VmmdRequestDecode, ValidSpecAndDevices) {
  std::unique_ptr<capnp::FlatArrayMessageReader> keep;
  auto w = load("vmspec-valid.bin");
  CreateRequest r = decodeVmSpec(root<ipc::vmmd::VmSpec>(w, keep));
  EXPECT_EQ(r.sandboxId, "pod1");
  EXPECT_EQ(r.vcpus, 2u);
  EXPECT_EQ(r.memoryMiB, 512u);
  EXPECT_EQ(r.kernelCmdline, "console=hvc0 quiet");
  EXPECT_TRUE(r.startPaused);
  auto d = load("device-emulated.bin");
  Device dev = decodeDevice(root<ipc::vmmd::Device>(d, keep));
  EXPECT_EQ(std::get<GenericDevice>(dev).driver, "virtio-rng-pci");
  auto v = load("device-vfio.bin");
  EXPECT_EQ(std::get<VfioDevice>(decodeDevice(root<ipc::vmmd::Device>(v, keep))).hostBdf, "0000:3b:00.1");
}

TEST(VmmdRequestDecode, HostileValuesAreClearErrors) {
  std::unique_ptr<capnp::FlatArrayMessageReader> keep;
  auto a = load("vmspec-bad-id.bin");
  EXPECT_NE(errorOf([&] { decodeVmSpec(root<ipc::vmmd::VmSpec>(a, keep)); }).find("invalid sandbox id \"../../etc\""),
            std::string::npos);
  auto b = load("vmspec-huge.bin");
  EXPECT_NE(errorOf([&] { decodeVmSpec(root<ipc::vmmd::VmSpec>(b, keep)); }).find("vcpus 100000 is out of range"),
            std::string::npos);
  auto c = load("device-vfio-bad.bin");
  EXPECT_NE(errorOf([&] { decodeDevice(root<ipc::vmmd::Device>(c, keep)); }).find("invalid PCI address"), std::string::npos);
  for (const char* name : {"truncated.bin", "huge-segment-count.bin"}) {
    auto t = load(name);
    std::string e = errorOf([&] { decodeVmSpec(root<ipc::vmmd::VmSpec>(t, keep)); });
    EXPECT_NE(e, "ok") << name;
  }
}

}  // namespace
}  // namespace kata::vmmd
