#!/usr/bin/env bash
# The generated completions complete every subcommand and every flag that
# `seedfs --help` and `seedfs <command> --help` list (help_lib.sh), nested
# ones (hook install) too:
#   bash: the script sourced (after bash-completion's, when installed), the
#         completion function called with COMP_WORDS/COMP_CWORD, COMPREPLY read;
#         also --priority's values and positionals as directories.
#   fish: `complete -C "seedfs mount -"` after sourcing the script.
#   zsh:  the script parses (zsh -n) and names every flag and subcommand in
#         the function of its command (driving zsh's completion system takes
#         a pty: not done).
#   completion_test.sh SEEDFS GENERATED_DIR
set -euo pipefail
seedfs=$1 gen=$2
. "$(dirname "$0")/help_lib.sh"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

mapfile -t paths < <(help_commands "$seedfs")
paths=("" "${paths[@]}")
[[ " ${paths[*]} " == *" hook install "* ]] || fail "help lists no 'hook install': $(printf '[%s]' "${paths[@]}")"

# bash: prints COMPREPLY, one a line, for the words given (the last is the
# one being completed).
bash_complete() {
  bash -c '
    [[ -r /usr/share/bash-completion/bash_completion ]] && . /usr/share/bash-completion/bash_completion
    . "$1"; shift
    COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
    _seedfs seedfs "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    printf "%s\n" "${COMPREPLY[@]}"' _ "$gen/seedfs.bash" "$@"
}
fish_complete() { fish -c 'source $argv[1]; complete -C $argv[2]' "$gen/seedfs.fish" "$1" | cut -f1; }
zsh_function() {  # the body of the zsh function of a command path
  local fn=_seedfs
  [[ -n $1 ]] && fn="_seedfs__${1// /_}"
  awk -v fn="$fn() {" '$0 == fn { on = 1 } on { print } on && /^}/ { exit }' "$gen/_seedfs"
}

zsh -n "$gen/_seedfs" || fail "zsh -n _seedfs"
checked=0
for path in "${paths[@]}"; do
  # shellcheck disable=SC2206  # PATH is words
  words=(seedfs $path)
  bash_out=$(bash_complete "${words[@]}" -)
  fish_out=$(fish_complete "seedfs ${path:+$path }-")
  zsh_fn=$(zsh_function "$path")
  [[ -n $zsh_fn ]] || fail "zsh: no function for '$path'"
  for flag in $(help_flags "$seedfs" "$path"); do
    grep -qxF -- "$flag" <<<"$bash_out" || fail "bash: 'seedfs $path -' does not complete $flag"
    grep -qxF -- "$flag" <<<"$fish_out" || fail "fish: 'seedfs $path -' does not complete $flag"
    grep -qF -- "'$flag" <<<"$zsh_fn" || fail "zsh: the function of '$path' does not name $flag"
    checked=$((checked + 1))
  done
  subs=$(help_section "$seedfs" "$path" Subcommands)
  if [[ -n $subs ]]; then
    bash_out=$(bash_complete "${words[@]}" "")
    fish_out=$(fish_complete "seedfs ${path:+$path }")
    for sub in $subs; do
      grep -qxF -- "$sub" <<<"$bash_out" || fail "bash: 'seedfs $path ' does not complete $sub"
      grep -qxF -- "$sub" <<<"$fish_out" || fail "fish: 'seedfs $path ' does not complete $sub"
      grep -qF -- "'$sub:" <<<"$zsh_fn" || fail "zsh: the function of '$path' does not name $sub"
      checked=$((checked + 1))
    done
  fi
  # Positionals (root, ws, repo) complete as directories, also after an
  # option's value.
  if [[ -n $(help_section "$seedfs" "$path" Positionals) ]]; then
    out=$(bash_complete "${words[@]}" /)
    grep -qx '/tmp/\?' <<<"$out" || fail "bash: 'seedfs $path /' does not complete /tmp"
    ! grep -qx '/etc/passwd' <<<"$out" || fail "bash: 'seedfs $path /' completes a file"
  fi
done
out=$(bash_complete seedfs mount --workers 2 /)
grep -qx '/tmp/\?' <<<"$out" || fail "bash: 'seedfs mount --workers 2 /' does not complete /tmp"

# --priority's values (an IsMember validator).
for cmd in seed mount; do
  out=$(bash_complete seedfs "$cmd" --priority "")
  [[ $(sort <<<"$out" | xargs) == "idle low normal" ]] || fail "bash: 'seedfs $cmd --priority ' gives [$out]"
  out=$(bash_complete seedfs "$cmd" --priority = "")
  [[ $(sort <<<"$out" | xargs) == "idle low normal" ]] || fail "bash: 'seedfs $cmd --priority=' gives [$out]"
  out=$(fish_complete "seedfs $cmd --priority ")
  [[ $(sort <<<"$out" | xargs) == "idle low normal" ]] || fail "fish: 'seedfs $cmd --priority ' gives [$out]"
done
out=$(bash_complete seedfs mount --priority l)
[[ $out == low ]] || fail "bash: 'seedfs mount --priority l' gives [$out]"
# A value option's value is not taken for a subcommand or positional.
grep -qx '/tmp/\?' <<<"$(bash_complete seedfs hook install --json /)" || fail "bash: hook install's repo dir"

echo "completion_test: $checked names checked in ${#paths[@]} commands, $fails failures"
((checked > 40)) || { echo "FAIL: too few names from --help ($checked)" >&2; exit 1; }
((fails == 0))
