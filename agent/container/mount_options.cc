#include "agent/container/mount_options.h"

#include <sys/mount.h>

#include <map>

#include "common/error.h"

namespace kata::agent {
namespace {

struct FlagOption {
  bool clear;
  unsigned long flag;
};

const std::map<std::string_view, FlagOption>& flagTable() {
  static const std::map<std::string_view, FlagOption> kTable = {
      {"acl", {false, MS_POSIXACL}},        {"async", {true, MS_SYNCHRONOUS}},
      {"atime", {true, MS_NOATIME}},        {"bind", {false, MS_BIND}},
      {"defaults", {false, 0}},             {"dev", {true, MS_NODEV}},
      {"diratime", {true, MS_NODIRATIME}},  {"dirsync", {false, MS_DIRSYNC}},
      {"exec", {true, MS_NOEXEC}},          {"iversion", {false, MS_I_VERSION}},
      {"lazytime", {false, MS_LAZYTIME}},   {"loud", {true, MS_SILENT}},
      {"mand", {false, MS_MANDLOCK}},       {"noacl", {true, MS_POSIXACL}},
      {"noatime", {false, MS_NOATIME}},     {"nodev", {false, MS_NODEV}},
      {"nodiratime", {false, MS_NODIRATIME}}, {"noexec", {false, MS_NOEXEC}},
      {"noiversion", {true, MS_I_VERSION}}, {"nolazytime", {true, MS_LAZYTIME}},
      {"nomand", {true, MS_MANDLOCK}},      {"norelatime", {true, MS_RELATIME}},
      {"nostrictatime", {true, MS_STRICTATIME}}, {"nosuid", {false, MS_NOSUID}},
      {"rbind", {false, MS_BIND | MS_REC}}, {"relatime", {false, MS_RELATIME}},
      {"remount", {false, MS_REMOUNT}},     {"ro", {false, MS_RDONLY}},
      {"rw", {true, MS_RDONLY}},            {"silent", {false, MS_SILENT}},
      {"strictatime", {false, MS_STRICTATIME}}, {"suid", {true, MS_NOSUID}},
      {"sync", {false, MS_SYNCHRONOUS}},
  };
  return kTable;
}

const std::map<std::string_view, unsigned long>& propagationTable() {
  static const std::map<std::string_view, unsigned long> kTable = {
      {"private", MS_PRIVATE},
      {"shared", MS_SHARED},
      {"slave", MS_SLAVE},
      {"unbindable", MS_UNBINDABLE},
      {"rprivate", MS_PRIVATE | MS_REC},
      {"rshared", MS_SHARED | MS_REC},
      {"rslave", MS_SLAVE | MS_REC},
      {"runbindable", MS_UNBINDABLE | MS_REC},
  };
  return kTable;
}

}  // namespace

MountOptions parseMountOptions(const std::vector<std::string>& options) {
  MountOptions out;
  for (const std::string& o : options) {
    if (auto f = flagTable().find(o); f != flagTable().end()) {
      if (f->second.clear) out.flags &= ~f->second.flag;
      else out.flags |= f->second.flag;
    } else if (auto p = propagationTable().find(o); p != propagationTable().end()) {
      out.propagation.push_back(p->second);
    } else if (o == "tmpcopyup") {
      // runc's extension (copy the image's content into a fresh tmpfs) is not carried out here.
    } else {
      if (!out.data.empty()) out.data += ",";
      out.data += o;
    }
  }
  return out;
}

unsigned long parsePropagation(std::string_view name) {
  auto p = propagationTable().find(name);
  if (p == propagationTable().end())
    fail(ErrorKind::kInvalidArgument, "linux.rootfsPropagation: unknown propagation \"" + std::string(name) + "\"");
  return p->second;
}

}  // namespace kata::agent
