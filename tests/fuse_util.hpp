// For tests that mount the view: skip only where /dev/fuse is absent, and
// not even then under SEEDFS_REQUIRE_FUSE=1 (CI).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#define SEEDFS_REQUIRE_FUSE_OR_SKIP()                                                        \
  do {                                                                                        \
    if (::access("/dev/fuse", R_OK | W_OK) != 0) {                                            \
      const char* req = std::getenv("SEEDFS_REQUIRE_FUSE");                                   \
      if (req && std::strcmp(req, "1") == 0)                                                  \
        FAIL() << "/dev/fuse is not usable and SEEDFS_REQUIRE_FUSE=1";                        \
      GTEST_SKIP() << "/dev/fuse is not usable here";                                         \
    }                                                                                         \
  } while (0)
