// PR_SET_NO_NEW_PRIVS: after this, execve can never grant privileges (setuid bits, file
// capabilities are ignored), and it is what lets an unprivileged process install seccomp filters
// (QEMU's own -sandbox needs it). Inherited by every descendant, cannot be unset.
#pragma once

namespace kata::security {

int applyNoNewPrivs() noexcept;

}  // namespace kata::security
