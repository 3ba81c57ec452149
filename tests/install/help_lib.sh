# Sourced by the install tests: what `seedfs --help` says, parsed. This is the
# independent source the generated completions and man page are checked
# against (not the generator's own walk of the App).
#   help_commands SEEDFS        every subcommand path ("mount", "hook install"), one a line
#   help_section SEEDFS PATH S  the entries of section S (Options, Positionals,
#                               Subcommands) of `seedfs PATH --help`: their first word
#   help_flags SEEDFS PATH      every option name of PATH (-h, --help, --json, ...)

help_section() {
  local seedfs=$1 path=$2 section=$3
  # shellcheck disable=SC2086  # PATH is words
  "$seedfs" $path --help | awk -v want="$section:" '
    /^[^ ]/ { in_section = ($0 == want); next }
    in_section && /^  [^ ]/ { print $1 }'
}

help_commands() {
  local seedfs=$1 path=${2:-} sub
  for sub in $(help_section "$seedfs" "$path" Subcommands); do
    echo "${path:+$path }$sub"
    help_commands "$seedfs" "${path:+$path }$sub"
  done
}

help_flags() {
  help_section "$1" "$2" Options | tr ',' '\n' | grep '^-'
}
