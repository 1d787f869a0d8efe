#include "kata-ctl/context.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <ostream>

#include "common/error.h"

namespace kata::ctl {

std::string defaultRoot() {
  if (::geteuid() == 0) return "/run/kata-ctl";
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  if (xdg == nullptr || *xdg == '\0') return {};
  return std::string(xdg) + "/kata-ctl";
}

Context::Context(GlobalOptions options, std::string argv0, Logger logger, std::ostream& out)
    : options_(std::move(options)),
      argv0_(std::move(argv0)),
      baseLogger_(logger),
      logger_(std::move(logger)),
      out_(out) {}

Context::~Context() = default;

void Context::setContainer(const std::string& id) { logger_ = baseLogger_.with("container", id); }

std::string Context::root() const {
  std::string root = options_.root.empty() ? defaultRoot() : options_.root;
  if (root.empty()) {
    fail(ErrorKind::kInvalidArgument,
         "no state root: XDG_RUNTIME_DIR is not set for this non-root user; pass --root DIR");
  }
  return std::filesystem::absolute(root).lexically_normal().string();
}

}  // namespace kata::ctl
