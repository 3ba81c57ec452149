#!/usr/bin/env bash
# The generated seedfs(1) renders with no groff warning (groff -ww, and man -l
# where man-db is installed), has the usual sections, and names every
# subcommand and every flag that `seedfs --help` lists (help_lib.sh).
#   manpage_test.sh SEEDFS GENERATED_DIR
set -euo pipefail
seedfs=$1 gen=$2
. "$(dirname "$0")/help_lib.sh"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
page=$gen/seedfs.1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

groff -man -Tutf8 -ww "$page" >"$tmp/out" 2>"$tmp/warnings" || fail "groff exited $?"
[[ ! -s $tmp/warnings ]] && [[ -s $tmp/out ]] || fail "groff -man -ww: $(cat "$tmp/warnings")"
if command -v man >/dev/null; then
  MANWIDTH=80 man --warnings=w -l "$page" >"$tmp/man" 2>"$tmp/man-warnings" || fail "man -l exited $?"
  [[ ! -s $tmp/man-warnings ]] || fail "man -l: $(cat "$tmp/man-warnings")"
fi
# The gzipped one is the same page.
cmp -s "$page" <(gzip -dc "$gen/seedfs.1.gz") || fail "seedfs.1.gz is not seedfs.1"

text=$(sed 's/.\x08//g' "$tmp/out")
for section in NAME SYNOPSIS DESCRIPTION OPTIONS COMMANDS EXAMPLES "EXIT STATUS" FILES "SEE ALSO"; do
  grep -qx "$section" <<<"$text" || fail "no section $section"
done
for code in 0 1 2 3 4 5 6; do
  sed -n '/^EXIT STATUS/,/^FILES/p' <<<"$text" | grep -qE "^ +$code +[a-zA-Z]" || fail "EXIT STATUS lacks $code"
done
grep -q "seedfs 0\.\|seedfs [0-9]" <<<"$(tail -1 <<<"$text")" || fail "no version in the footer"

n=0
while read -r path; do
  grep -q "seedfs $path" <<<"$text" || fail "the page does not name 'seedfs $path'"
  n=$((n + 1))
  for flag in $(help_flags "$seedfs" "$path"); do
    [[ $flag == -h || $flag == --help ]] && continue  # listed once, under OPTIONS
    grep -qF -- "${flag//-/\\-}" "$page" || fail "the page does not name $flag of '$path'"
  done
done < <(help_commands "$seedfs")
((n >= 8)) || fail "only $n subcommands in --help"
echo "manpage_test: $n subcommands, $fails failures"
((fails == 0))
