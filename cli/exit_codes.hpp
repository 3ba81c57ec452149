// What seedfs's exit codes mean; README.md lists them for scripts.
#pragma once

#include <string>

namespace seedfs::cli {

enum Exit : int {
  kOk = 0,
  kFailed = 1,       // the work started and failed (an I/O error, with its path)
  kUsage = 2,        // bad arguments or an invalid config file
  kBadInput = 3,     // root or workspace missing, not a directory, the same, or nested
  kBusy = 4,         // the root is being built right now (override: --force)
  kNoFuse = 5,       // /dev/fuse missing or not permitted
  kNotMounted = 6,   // status/wait/unmount: no live seedfs mount for that workspace
};

// A refusal: one message naming the path and the fix, and its exit code.
struct CliError {
  int code = kFailed;
  std::string message;
};

}  // namespace seedfs::cli
