// Shell completions and the man page, generated from the CLI11 App (see
// cli_docs.hpp). Everything about the commands comes from the App: names,
// descriptions, footers, options, whether an option takes a value, and the
// values of a `choices` option (CLI11 2.1 exposes an IsMember validator only
// through its description, "{normal,low,idle}", which Option::get_type_name()
// appends: parsed below). Hidden subcommands and options (group "") are left
// out. Declared here, as the App has no place for them: the man page's NAME
// line, FILES and SEE ALSO.
#include "cli/cli_docs.hpp"

#include <regex>
#include <sstream>
#include <vector>

#include "cli/cli_def.hpp"

namespace seedfs::cli {
namespace {

constexpr const char* kSummary = "make a root checkout's build artifacts usable in a new workspace at once";

struct FileEntry {
  const char* path;
  const char* what;
};
constexpr FileEntry kFiles[] = {
    {"$XDG_RUNTIME_DIR/seedfs/ (else /tmp/seedfs-UID/)",
     "The control socket and pid file of each mount's daemon (mode 0700)."},
    {"$XDG_STATE_HOME/seedfs/ (else ~/.local/state/seedfs/)",
     "Per workspace: the daemon's log, the journal of deletions and renames, T0, the last status."},
    {"<ws>/.seedfs.toml, <root>/.seedfs.toml",
     "Project config files (see seedfs config for the lookup order)."},
    {"$XDG_CONFIG_HOME/seedfs/config.toml (else ~/.config/seedfs/config.toml)", "The user's config file."},
};
constexpr const char* kSeeAlso[] = {"cargo(1)", "git-worktree(1)", "fusermount3(1)"};

enum class Value { kNone, kFile, kNumber, kChoices };

struct Opt {
  std::vector<std::string> names;  // "-h", "--help"
  std::string desc;
  Value value = Value::kNone;       // kNone: a flag
  std::string type;                 // "FLOAT", "TEXT", ...
  std::vector<std::string> choices;
  bool help = false;                // the -h,--help every command has
};

struct Pos {
  std::string name, desc;
  bool required = false;
};

struct Cmd {
  std::string path;  // "" for seedfs itself, "mount", "hook install"
  std::string desc, footer;
  std::vector<Opt> opts;
  std::vector<Pos> pos;
  std::vector<std::pair<std::string, std::string>> subs;  // name, description
};

bool visible_app(const CLI::App* a) { return !a->get_group().empty(); }

Opt make_opt(const CLI::Option* o, const CLI::App& app) {
  Opt opt;
  for (const auto& s : o->get_snames()) opt.names.push_back("-" + s);
  for (const auto& l : o->get_lnames()) opt.names.push_back("--" + l);
  opt.desc = o->get_description();
  opt.help = o == app.get_help_ptr();
  if (o->get_expected_max() == 0) return opt;  // a flag
  std::string type = o->get_type_name();    // "TEXT:{normal,low,idle}", "UINT:INT in [1 - 1024]"
  opt.type = type.substr(0, type.find(':'));
  auto open = type.find('{'), close = type.find('}', open);
  if (open != std::string::npos && close != std::string::npos) {
    std::stringstream list(type.substr(open + 1, close - open - 1));
    for (std::string item; std::getline(list, item, ',');) opt.choices.push_back(item);
    opt.value = Value::kChoices;
  } else if (opt.type == "INT" || opt.type == "UINT" || opt.type == "FLOAT" || opt.type == "NUMBER") {
    opt.value = Value::kNumber;
  } else {
    opt.value = Value::kFile;
  }
  return opt;
}

void walk(const CLI::App& app, const std::string& path, std::vector<Cmd>& out) {
  Cmd cmd;
  cmd.path = path;
  cmd.desc = app.get_description();
  cmd.footer = app.get_footer();
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_group().empty()) continue;  // hidden
    if (o->nonpositional())
      cmd.opts.push_back(make_opt(o, app));
    else if (o->get_positional())
      cmd.pos.push_back({o->get_name(), o->get_description(), o->get_required()});
  }
  auto subs = app.get_subcommands([](const CLI::App* a) { return visible_app(a); });
  for (const CLI::App* s : subs) cmd.subs.emplace_back(s->get_name(), s->get_description());
  out.push_back(std::move(cmd));
  for (const CLI::App* s : subs) walk(*s, path.empty() ? s->get_name() : path + " " + s->get_name(), out);
}

std::vector<Cmd> commands(const CLI::App& app) {
  std::vector<Cmd> out;
  walk(app, "", out);
  return out;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// One line for a completion menu: the description up to its first clause
// break past its 20th character, at most ~90 characters.
std::string short_desc(std::string s) {
  for (auto& c : s)
    if (c == '\n') c = ' ';
  size_t cut = std::string::npos;
  for (const char* mark : {" (", ": ", "; ", ". "}) {
    for (size_t at = s.find(mark); at != std::string::npos; at = s.find(mark, at + 1)) {
      if (at < 20) continue;  // "Stop early: unmount <ws>" keeps its first clause
      if (mark[0] == '.' && (s.compare(at - 3, 3, "e.g") == 0 || s.compare(at - 3, 3, "i.e") == 0)) continue;
      cut = std::min(cut, at);
      break;
    }
  }
  if (cut != std::string::npos) s.resize(cut);
  if (s.size() > 90) {
    s.resize(s.rfind(' ', 86));
    s += "...";
  }
  return s;
}

std::string fn_name(const std::string& prefix, const std::string& path) {
  std::string out = prefix;
  for (char c : path) out += (c == ' ' || c == '-') ? '_' : c;
  return out;
}

// ---- bash ------------------------------------------------------------------

std::string bash_script(const std::vector<Cmd>& cmds) {
  std::ostringstream s;
  s << "# bash completion for seedfs                              -*- shell-script -*-\n"
       "# Generated by `seedfs completions bash` from seedfs's own command line: do not edit.\n"
       "# Needs no bash-completion helpers (works with or without the package).\n\n";
  // Tables: for each command path ("" is seedfs itself), its subcommands,
  // its options taking a value, its flags, and how many positional dirs it takes.
  auto table = [&](const char* fn, auto words) {
    s << fn << "() {\n  case \"$1\" in\n";
    for (const auto& c : cmds) s << "    \"" << c.path << "\") REPLY=\"" << words(c) << "\" ;;\n";
    s << "    *) REPLY=\"\" ;;\n  esac\n}\n";
  };
  table("_seedfs_subcommands", [](const Cmd& c) {
    std::vector<std::string> v;
    for (const auto& sub : c.subs) v.push_back(sub.first);
    return join(v, " ");
  });
  table("_seedfs_value_options", [](const Cmd& c) {
    std::vector<std::string> v;
    for (const auto& o : c.opts)
      if (o.value != Value::kNone) v.insert(v.end(), o.names.begin(), o.names.end());
    return join(v, " ");
  });
  table("_seedfs_flags", [](const Cmd& c) {
    std::vector<std::string> v;
    for (const auto& o : c.opts)
      if (o.value == Value::kNone) v.insert(v.end(), o.names.begin(), o.names.end());
    return join(v, " ");
  });
  table("_seedfs_positionals", [](const Cmd& c) { return std::to_string(c.pos.size()); });
  // The values of an option: its choices, or :file, or :none (a number).
  s << "_seedfs_option_values() {\n  case \"$1|$2\" in\n";
  for (const auto& c : cmds)
    for (const auto& o : c.opts) {
      if (o.value == Value::kNone || o.value == Value::kFile) continue;
      for (const auto& n : o.names)
        s << "    \"" << c.path << "|" << n << "\") REPLY=\""
          << (o.value == Value::kChoices ? join(o.choices, " ") : ":none") << "\" ;;\n";
    }
  s << "    *) REPLY=\":file\" ;;\n  esac\n}\n\n";
  s << R"(_seedfs() {
  local REPLY cur="${COMP_WORDS[COMP_CWORD]}" prev="" path="" value="" w i npos=0
  COMPREPLY=()
  # The command path and the positionals so far; the value of an option
  # ("--opt value", or "--opt = value" as bash splits "--opt=value") is skipped.
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="${COMP_WORDS[i]}"
    if [[ -n $value ]]; then
      [[ $w == "=" ]] || value=""
      continue
    fi
    if [[ $w == -* ]]; then
      _seedfs_value_options "$path"
      [[ " $REPLY " == *" $w "* ]] && value=$w
      continue
    fi
    _seedfs_subcommands "$path"
    if ((npos == 0)) && [[ " $REPLY " == *" $w "* ]]; then
      path="${path:+$path }$w"
    else
      ((npos++))
    fi
  done
  # The value of an option?
  if [[ $cur == "=" ]]; then
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    cur=""
  elif ((COMP_CWORD >= 2)); then
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    [[ $prev == "=" ]] && prev="${COMP_WORDS[COMP_CWORD-2]}"
  fi
  if [[ -n $value && $prev == -* ]]; then
    _seedfs_option_values "$path" "$prev"
    case "$REPLY" in
      :none) ;;
      :file)
        compopt -o filenames 2>/dev/null
        mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
      *) mapfile -t COMPREPLY < <(compgen -W "$REPLY" -- "$cur") ;;
    esac
    return 0
  fi
  if [[ $cur == -* ]]; then
    local flags
    _seedfs_flags "$path"
    flags=$REPLY
    _seedfs_value_options "$path"
    mapfile -t COMPREPLY < <(compgen -W "$flags $REPLY" -- "$cur")
    return 0
  fi
  _seedfs_subcommands "$path"
  if [[ -n $REPLY ]] && ((npos == 0)); then
    mapfile -t COMPREPLY < <(compgen -W "$REPLY" -- "$cur")
    return 0
  fi
  _seedfs_positionals "$path"
  if ((npos < REPLY)); then
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -d -- "$cur")
  fi
  return 0
}
complete -F _seedfs seedfs
)";
  return s.str();
}

// ---- zsh -------------------------------------------------------------------

std::string zsh_quote(const std::string& s) {  // inside '...'
  std::string out;
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out;
}

std::string zsh_bracket(const std::string& s) {  // inside [...] of an _arguments spec
  std::string out;
  for (char c : s) {
    if (c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return zsh_quote(out);
}

std::string zsh_script(const std::vector<Cmd>& cmds) {
  std::ostringstream s;
  s << "#compdef seedfs\n"
       "# zsh completion for seedfs. Generated by `seedfs completions zsh` from seedfs's own\n"
       "# command line: do not edit.\n\n";
  for (const auto& c : cmds) {
    s << fn_name("_seedfs", c.path.empty() ? "" : "__" + c.path) << "() {\n"
      << "  local curcontext=\"$curcontext\" state line\n"
      << "  typeset -A opt_args\n"
      << "  _arguments -C -s \\\n";
    for (const auto& o : c.opts)
      for (const auto& n : o.names) {
        s << "    '" << n << (o.value != Value::kNone && n.size() > 2 ? "=" : "") << "["
          << zsh_bracket(short_desc(o.desc)) << "]";
        std::string what = n.substr(n.find_first_not_of('-'));
        switch (o.value) {
          case Value::kNone: break;
          case Value::kNumber: s << ":" << what << ": "; break;
          case Value::kFile: s << ":" << what << ":_files"; break;
          case Value::kChoices: s << ":" << what << ":(" << join(o.choices, " ") << ")"; break;
        }
        s << "' \\\n";
      }
    if (!c.subs.empty()) {
      s << "    '1: :->cmds' \\\n    '*:: :->args' && return\n";
      s << "  case $state in\n    cmds)\n      local -a cmds=(\n";
      for (const auto& [name, desc] : c.subs) s << "        '" << name << ":" << zsh_quote(short_desc(desc)) << "'\n";
      s << "      )\n      _describe -t commands 'seedfs " << (c.path.empty() ? "" : c.path + " ")
        << "command' cmds ;;\n    args)\n      case $words[1] in\n";
      for (const auto& sub : c.subs)
        s << "        " << sub.first << ") "
          << fn_name("_seedfs__", c.path.empty() ? sub.first : c.path + " " + sub.first) << " ;;\n";
      s << "      esac ;;\n  esac\n}\n\n";
    } else {
      for (const auto& p : c.pos) s << "    '" << (p.required ? "" : ":") << ":" << p.name << ":_files -/' \\\n";
      s << "    && return\n}\n\n";
    }
  }
  s << "if [ \"$funcstack[1]\" = \"_seedfs\" ]; then\n  _seedfs \"$@\"\nelse\n  compdef _seedfs seedfs\nfi\n";
  return s.str();
}

// ---- fish ------------------------------------------------------------------

std::string fish_quote(const std::string& s) {  // '...'
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string fish_script(const std::vector<Cmd>& cmds) {
  std::ostringstream s;
  s << "# fish completion for seedfs. Generated by `seedfs completions fish` from seedfs's own\n"
       "# command line: do not edit.\n\n";
  auto table = [&](const char* fn, auto words) {
    s << "function " << fn << "\n    switch \"$argv[1]\"\n";
    for (const auto& c : cmds) s << "        case '" << c.path << "'\n            echo " << words(c) << "\n";
    s << "    end\nend\n\n";
  };
  table("__seedfs_subcommands", [](const Cmd& c) {
    std::vector<std::string> v;
    for (const auto& sub : c.subs) v.push_back(sub.first);
    return join(v, " ");
  });
  table("__seedfs_value_options", [](const Cmd& c) {
    std::vector<std::string> v;
    for (const auto& o : c.opts)
      if (o.value != Value::kNone) v.insert(v.end(), o.names.begin(), o.names.end());
    return join(v, " ");
  });
  s << R"(# The subcommand path of the command line so far, e.g. "hook install".
function __seedfs_path
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l path ''
    set -l skip 0
    for w in $tokens
        if test $skip = 1
            set skip 0
            continue
        end
        if string match -q -- '-*' $w
            if not string match -q -- '*=*' $w; and contains -- $w (string split ' ' -- (__seedfs_value_options $path))
                set skip 1
            end
            continue
        end
        if contains -- $w (string split ' ' -- (__seedfs_subcommands $path))
            set path (string trim -- "$path $w")
        end
    end
    echo $path
end

function __seedfs_at
    set -l p (__seedfs_path)
    test "$p" = "$argv[1]"
end

complete -c seedfs -f
)";
  for (const auto& c : cmds) {
    std::string at = "-n '__seedfs_at \"" + c.path + "\"'";
    for (const auto& [name, desc] : c.subs)
      s << "complete -c seedfs " << at << " -a " << name << " -d " << fish_quote(short_desc(desc)) << "\n";
    for (const auto& o : c.opts) {
      s << "complete -c seedfs " << at;
      for (const auto& n : o.names) s << (n.size() == 2 ? " -s " : " -l ") << n.substr(n.find_first_not_of('-'));
      switch (o.value) {
        case Value::kNone: break;
        case Value::kNumber: s << " -x"; break;
        case Value::kFile: s << " -r -F"; break;
        case Value::kChoices: s << " -x -a " << fish_quote(join(o.choices, " ")); break;
      }
      s << " -d " << fish_quote(short_desc(o.desc)) << "\n";
    }
    if (!c.pos.empty()) s << "complete -c seedfs " << at << " -x -a '(__fish_complete_directories)'\n";
  }
  return s.str();
}

// ---- man page --------------------------------------------------------------

// Text for roff: backslashes and hyphens escaped, a control character at the
// start of a line neutralized, newlines kept.
std::string roff(const std::string& text) {
  std::string out;
  bool line_start = true;
  for (char c : text) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    line_start = c == '\n';
    if (c == '\\')
      out += "\\e";
    else if (c == '-')
      out += "\\-";
    else
      out += c;
  }
  return out;
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \n") - b + 1);
}

// Paragraphs, split at blank lines.
std::vector<std::string> paragraphs(const std::string& text) {
  std::vector<std::string> out;
  std::string rest = text;
  for (size_t at; (at = rest.find("\n\n")) != std::string::npos; rest = rest.substr(at + 2))
    if (auto p = trim(rest.substr(0, at)); !p.empty()) out.push_back(p);
  if (auto p = trim(rest); !p.empty()) out.push_back(p);
  return out;
}

std::string flowed(std::string p) {  // one paragraph as one line
  for (auto& c : p)
    if (c == '\n') c = ' ';
  return p;
}

// A paragraph: flowed text, or a heading line and an indented block kept as is
// (the examples).
void man_paragraph(std::ostream& s, const std::string& p, bool with_heading = true) {
  auto nl = p.find('\n');
  if (nl != std::string::npos && p.compare(nl + 1, 2, "  ") == 0) {
    if (with_heading) s << ".PP\n" << roff(p.substr(0, nl)) << "\n";
    s << ".PP\n.RS 4\n.nf\n";
    std::istringstream lines(p.substr(nl + 1));
    for (std::string line; std::getline(lines, line);) s << roff(trim(line)) << "\n";
    s << ".fi\n.RE\n";
  } else {
    s << ".PP\n" << roff(flowed(p)) << "\n";
  }
}

std::string opt_synopsis(const Opt& o) {
  std::string out;
  for (const auto& n : o.names) out += (out.empty() ? "" : ", ") + ("\\fB" + roff(n) + "\\fR");
  if (o.value == Value::kChoices)
    out += " \\fI" + roff(join(o.choices, "|")) + "\\fR";
  else if (o.value != Value::kNone)
    out += " \\fI" + roff(o.type) + "\\fR";
  return out;
}

std::string cmd_synopsis(const Cmd& c) {
  std::string out = "\\fBseedfs " + roff(c.path) + "\\fR";
  if (!c.subs.empty()) {
    std::vector<std::string> names;
    for (const auto& sub : c.subs) names.push_back(sub.first);
    return out + " \\fI" + join(names, "|") + "\\fR";
  }
  if (!c.opts.empty()) out += " [\\fIoptions\\fR]";
  for (const auto& p : c.pos) out += p.required ? " \\fI" + roff(p.name) + "\\fR" : " [\\fI" + roff(p.name) + "\\fR]";
  return out;
}

std::string man(const std::vector<Cmd>& cmds) {
  const Cmd& top = cmds.front();
  BuildVersion v = build_version();
  std::ostringstream s;
  s << ".\\\" seedfs(1). Generated by `seedfs manpage` from seedfs's own command line: do not edit.\n"
    << ".TH SEEDFS 1 \"" << v.date << "\" \"seedfs " << v.version << "\" \"User Commands\"\n"
    << ".SH NAME\nseedfs \\- " << roff(kSummary) << "\n"
    << ".SH SYNOPSIS\n";
  bool first = true;
  for (const auto& c : cmds) {
    if (c.path.empty() || !c.subs.empty()) continue;
    s << (first ? "" : ".br\n") << cmd_synopsis(c) << "\n";
    first = false;
  }
  s << ".br\n\\fBseedfs\\fR \\fB\\-\\-help\\fR|\\fB\\-\\-version\\fR\n";

  // The app's own text; its footer's paragraphs go to EXAMPLES, EXIT STATUS,
  // or (any other) DESCRIPTION.
  std::string examples, exit_status;
  std::vector<std::string> more;
  for (const auto& p : paragraphs(top.footer)) {
    if (p.rfind("Examples:", 0) == 0)
      examples = p;
    else if (p.rfind("Exit codes:", 0) == 0)
      exit_status = flowed(p.substr(11));
    else
      more.push_back(p);
  }
  s << ".SH DESCRIPTION\n";
  for (const auto& p : paragraphs(top.desc)) man_paragraph(s, p);
  for (const auto& p : more) man_paragraph(s, p);
  s << ".SH OPTIONS\n";
  for (const auto& o : top.opts) s << ".TP\n" << opt_synopsis(o) << "\n" << roff(flowed(o.desc)) << "\n";

  s << ".SH COMMANDS\n";
  for (const auto& c : cmds) {
    if (c.path.empty()) continue;
    s << ".SS \"" << roff(c.path) << "\"\n" << cmd_synopsis(c) << "\n.PP\n" << roff(flowed(c.desc)) << "\n";
    for (const auto& p : paragraphs(c.footer)) man_paragraph(s, p);
    for (const auto& p : c.pos) s << ".TP\n\\fI" << roff(p.name) << "\\fR\n" << roff(flowed(p.desc)) << "\n";
    for (const auto& o : c.opts)
      if (!o.help) s << ".TP\n" << opt_synopsis(o) << "\n" << roff(flowed(o.desc)) << "\n";
  }

  if (!examples.empty()) {
    s << ".SH EXAMPLES\n";
    man_paragraph(s, examples, false);
  }
  s << ".SH EXIT STATUS\n";
  // "0 ok, 1 failed (with the path), 2 usage or config error, ..."
  static const std::regex item(R"((\d+)\s+(.*?)\.?\s*$)");
  static const std::regex sep(R"(,\s*(?=\d+\s))");
  bool parsed = false;
  for (std::sregex_token_iterator it(exit_status.begin(), exit_status.end(), sep, -1), end; it != end; ++it) {
    std::smatch m;
    std::string part = trim(it->str());
    if (!std::regex_match(part, m, item)) continue;
    s << ".TP\n.B " << m[1] << "\n" << roff(trim(m[2])) << "\n";
    parsed = true;
  }
  if (!parsed && !exit_status.empty()) s << roff(trim(exit_status)) << "\n";

  s << ".SH FILES\n";
  for (const auto& f : kFiles) s << ".TP\n.I \"" << roff(f.path) << "\"\n" << roff(f.what) << "\n";
  s << ".SH SEE ALSO\n";
  std::vector<std::string> refs;
  for (const char* r : kSeeAlso) {
    std::string ref = r;
    auto paren = ref.find('(');
    refs.push_back("\\fB" + roff(ref.substr(0, paren)) + "\\fR" + ref.substr(paren));
  }
  s << join(refs, ",\n") << "\n";
  return s.str();
}

}  // namespace

std::string completion_script(const CLI::App& app, std::string_view shell) {
  auto cmds = commands(app);
  if (shell == "bash") return bash_script(cmds);
  if (shell == "zsh") return zsh_script(cmds);
  if (shell == "fish") return fish_script(cmds);
  return "";
}

std::string man_page(const CLI::App& app) { return man(commands(app)); }

}  // namespace seedfs::cli
