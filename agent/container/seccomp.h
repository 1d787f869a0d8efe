// linux.seccomp → a libseccomp filter, after runc's libcontainer/seccomp/patchbpf-free path
// (seccomp_linux.go): same action and operator names, unknown syscall names skipped, rules whose
// action equals the default dropped, libseccomp's own no_new_privs turned off (the spec decides).
#pragma once

#include <memory>

#include "runtime/oci/spec.h"

namespace kata::agent {

class SeccompFilter {
 public:
  // Throws kata::Error(kInvalidArgument) naming the offending "linux.seccomp..." member.
  static SeccompFilter build(const oci::Seccomp& profile);
  // seccomp_load: from here on the calling thread is filtered.
  void load();

 private:
  struct Release {
    void operator()(void* ctx) const;
  };
  explicit SeccompFilter(void* ctx) : ctx_(ctx) {}
  std::unique_ptr<void, Release> ctx_;
};

}  // namespace kata::agent
