// For tests that mount the view: skip only where /dev/fuse is absent, and
// not even then under SEEDFS_REQUIRE_FUSE=1 (CI).
#pragma once

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#define SEEDFS_REQUIRE_FUSE_OR_SKIP()                                                        \
  do {                                                                                        \
    if (::access("/dev/fuse", R_OK | W_OK) != 0) {                                            \
      const char* req = std::getenv("SEEDFS_REQUIRE_FUSE");                                   \
      if (req && std::strcmp(req, "1") == 0)                                                  \
        FAIL() << "/dev/fuse is not usable and SEEDFS_REQUIRE_FUSE=1";                        \
      GTEST_SKIP() << "/dev/fuse is not usable here";                                         \
    }                                                                                         \
  } while (0)

namespace seedfs::test {

// Ends the FUSE connection of the mount on device `dev` (its st_dev, taken
// while it answered), as `echo 1 > /sys/fs/fuse/connections/N/abort` does:
// for a test whose view stalled, so that it fails instead of hanging.
inline void abort_fuse_connection(dev_t dev) {
  ::mount("fusectl", "/sys/fs/fuse/connections", "fusectl", 0, nullptr);  // EBUSY when mounted
  std::ofstream("/sys/fs/fuse/connections/" + std::to_string(minor(dev)) + "/abort") << 1;
}

}  // namespace seedfs::test
