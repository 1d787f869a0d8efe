// The agent's name for common/root_path.h (paths resolved inside a container's root).
#pragma once

#include "common/root_path.h"

namespace kata::agent {
using kata::cleanPath;
using kata::createInRoot;
using kata::openInRoot;
using kata::procFdPath;
}  // namespace kata::agent
