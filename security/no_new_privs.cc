#include "security/no_new_privs.h"

#include <sys/prctl.h>

#include <cerrno>

namespace kata::security {

int applyNoNewPrivs() noexcept { return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? errno : 0; }

}  // namespace kata::security
