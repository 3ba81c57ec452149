#include "cargo/metadata.hpp"

#include <cstdint>

#include "seeding/sys.hpp"

namespace seedfs::cargo {
namespace {

// Just enough JSON (RFC 8259) to find an object's top-level members: every
// value is walked, only top-level strings are decoded.
class JsonReader {
 public:
  explicit JsonReader(std::string_view s) : s_(s) {}

  std::optional<std::map<std::string, std::string>> object_strings() {
    std::map<std::string, std::string> out;
    bool ok = object([&](const std::string& key) {
      skip_space();
      if (peek() != '"') return value(0);
      std::string v;
      if (!string(&v)) return false;
      out[key] = std::move(v);
      return true;
    });
    skip_space();
    if (!ok || pos_ != s_.size()) return std::nullopt;
    return out;
  }

 private:
  static constexpr int kMaxDepth = 512;

  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\r' || s_[pos_] == '\t'))
      ++pos_;
  }

  // `{ "key": value, ... }`, calling `member(key)` with the reader at the value.
  template <class Member>
  bool object(Member&& member) {
    skip_space();
    if (peek() != '{') return false;
    ++pos_;
    skip_space();
    if (peek() == '}') return ++pos_, true;
    for (;;) {
      skip_space();
      std::string key;
      if (peek() != '"' || !string(&key)) return false;
      skip_space();
      if (peek() != ':') return false;
      ++pos_;
      if (!member(key)) return false;
      skip_space();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') return ++pos_, true;
      return false;
    }
  }

  bool value(int depth) {
    if (depth > kMaxDepth) return false;
    skip_space();
    switch (peek()) {
      case '"':
        return string(nullptr);
      case '{':
        return object([&](const std::string&) { return value(depth + 1); });
      case '[': {
        ++pos_;
        skip_space();
        if (peek() == ']') return ++pos_, true;
        for (;;) {
          if (!value(depth + 1)) return false;
          skip_space();
          if (peek() == ',') {
            ++pos_;
            continue;
          }
          if (peek() == ']') return ++pos_, true;
          return false;
        }
      }
      default: {  // a number, true, false or null
        size_t start = pos_;
        while (pos_ < s_.size() && std::string_view("+-.0123456789eEtruefalsn").find(s_[pos_]) != std::string_view::npos)
          ++pos_;
        return pos_ > start;
      }
    }
  }

  // A string at `"`; decoded into `out` unless it is null.
  bool string(std::string* out) {
    ++pos_;  // the opening quote
    for (;;) {
      if (pos_ >= s_.size()) return false;
      char c = s_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        if (out) *out += c;
        continue;
      }
      if (pos_ >= s_.size()) return false;
      char e = s_[pos_++];
      const char* simple = "\"\"\\\\//b\bf\fn\nr\rt\t";
      bool found = false;
      for (const char* p = simple; *p; p += 2)
        if (*p == e) {
          if (out) *out += p[1];
          found = true;
        }
      if (found) continue;
      if (e != 'u') return false;
      uint32_t cp = 0;
      if (!hex4(cp)) return false;
      if (cp >= 0xD800 && cp <= 0xDBFF) {  // a surrogate pair
        uint32_t low = 0;
        if (s_.substr(pos_, 2) != "\\u") return false;
        pos_ += 2;
        if (!hex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
      }
      if (out) append_utf8(*out, cp);
    }
  }

  bool hex4(uint32_t& v) {
    if (pos_ + 4 > s_.size()) return false;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<uint32_t>(c - 'A' + 10);
      else return false;
    }
    return true;
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

std::optional<std::map<std::string, std::string>> top_level_strings(std::string_view json) {
  return JsonReader(json).object_strings();
}

Lookup locate(const std::filesystem::path& project) {
  Lookup l;
  // No manifest, nothing for cargo to say: not asking saves a cargo start
  // (20 to 80 ms) on every mount of a dir that is no cargo project (yet).
  std::error_code exists_ec;
  if (!std::filesystem::exists(project / "Cargo.toml", exists_ec)) {
    l.why = "no Cargo.toml in " + project.string();
    return l;
  }
  // Never a toolchain download from inside `seedfs mount` (rustup installs a
  // rust-toolchain.toml's toolchain on first use otherwise).
  std::vector<std::string> env = sys::environment_without({"RUSTUP_AUTO_INSTALL"});
  env.emplace_back("RUSTUP_AUTO_INSTALL=0");
  // In the project dir: cargo finds its config files (.cargo/config.toml, with
  // build.target-dir) from the current dir, not from the manifest.
  sys::ProgramOutput r = sys::run_program(
      {"cargo", "metadata", "--format-version", "1", "--no-deps", "--offline", "--manifest-path",
       (project / "Cargo.toml").string()},
      env, project.string());
  if (r.ec == std::errc::no_such_file_or_directory) {
    l.no_cargo = true;
    l.why = "cargo is not installed";
    return l;
  }
  if (!r.ok()) {
    l.why = "cargo metadata in " + project.string() + ": " + r.why();
    return l;
  }
  auto top = top_level_strings(r.out);
  if (!top || !top->count("target_directory")) {
    l.why = "cargo metadata in " + project.string() + " printed no target_directory";
    return l;
  }
  Dirs d;
  d.target_dir = (*top)["target_directory"];
  d.build_dir = top->count("build_directory") ? std::filesystem::path((*top)["build_directory"]) : d.target_dir;
  d.workspace_root = (*top)["workspace_root"];
  l.dirs = std::move(d);
  return l;
}

}  // namespace seedfs::cargo
