#!/usr/bin/env python3
"""Checks every command that README.md and docs/*.md show against what it names.

- `seedfs ...` (in a shell block or an inline `code` span): the real binary
  parses its arguments with SEEDFS_CHECK_ARGS=1, which makes it exit after
  parsing, so an unknown flag, a subcommand that is gone or a missing value
  fails here. Placeholders are normalized first: `[--json]` -> `--json`,
  `install|uninstall` -> `install`, `...` dropped.
- `scripts/...` and `tests/...` in a shell block: the file exists and is
  executable, and every `--flag` given to it appears in it (or in the Python
  file it runs).
- ```toml blocks: `seedfs config --config <the block>` accepts them.

The README's quick start is also *run* as written, by tests/e2e/docs_test.cpp;
scripts/demo.sh is run by ctest.

usage: docs_check.py --seedfs BIN --source DIR
"""
import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile

BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
INLINE = re.compile(r"`(seedfs [a-z-][^`]*)`")  # not `seedfs 0.1.0 (git ...)`, an output
SEPARATORS = {"&&", "||", ";", "|", "&", "(", ")"}


def documents(source):
    yield os.path.join(source, "README.md")
    docs = os.path.join(source, "docs")
    for name in sorted(os.listdir(docs)):
        if name.endswith(".md"):
            yield os.path.join(docs, name)


def commands_of_line(line):
    """The simple commands of one shell line, each a list of words."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    words = list(lexer)
    out, cur = [], []
    for w in words:
        if w in SEPARATORS:
            if cur:
                out.append(cur)
            cur = []
        else:
            cur.append(w)
    if cur:
        out.append(cur)
    # Leading VAR=value assignments and sudo are not the command.
    cleaned = []
    for c in out:
        while c and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", c[0]) or c[0] in ("sudo", "env", "time")):
            c = c[1:]
        if c:
            cleaned.append(c)
    return cleaned


def normalize_placeholders(words):
    out = []
    for w in words:
        if w in ("...", "[...]"):
            continue
        w = w.strip("[]")
        if "|" in w and not w.startswith("-"):
            w = w.split("|")[0]
        elif "|" in w:  # --a|--b
            w = w.split("|")[0]
        if w:
            out.append(w)
    return out


class Checker:
    def __init__(self, seedfs, source):
        self.seedfs = seedfs
        self.source = source
        self.failures = []
        self.checked = 0

    def fail(self, where, what):
        self.failures.append(f"{where}: {what}")

    def parse_only(self, args):
        env = dict(os.environ, SEEDFS_CHECK_ARGS="1")
        return subprocess.run([self.seedfs] + args, env=env, capture_output=True, text=True)

    def binary_only_parses(self):
        """Whether the binary stops after parsing: nothing the docs show may run for real."""
        r = self.parse_only(["unmount", "/nonexistent/seedfs-docs-check"])
        return r.returncode == 0 and r.stdout.strip() == "seedfs: arguments ok"

    def seedfs_args(self, where, words):
        self.checked += 1
        r = self.parse_only(words[1:])
        if r.returncode != 0:
            msg = (r.stderr or r.stdout).strip().splitlines()
            self.fail(where, f"`{shlex.join(words)}` does not parse: {msg[0] if msg else r.returncode}")

    def script(self, where, words):
        self.checked += 1
        path = os.path.join(self.source, words[0])
        if not os.path.isfile(path) or not os.access(path, os.X_OK):
            self.fail(where, f"`{words[0]}` is not an executable file of the repository")
            return
        texts = [open(path, errors="replace").read()]
        for py in re.findall(r"python3 (scripts/\S+\.py)", texts[0]):
            texts.append(open(os.path.join(self.source, py), errors="replace").read())
        for w in words[1:]:
            if w.startswith("--"):
                flag = w.split("=")[0]
                if not any(flag in t for t in texts):
                    self.fail(where, f"`{words[0]}` knows no `{flag}`")

    def toml(self, where, text):
        self.checked += 1
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write(text)
        try:
            r = subprocess.run([self.seedfs, "config", "--config", f.name], capture_output=True, text=True)
            if r.returncode != 0:
                self.fail(where, f"the TOML block is refused: {(r.stderr or r.stdout).strip()}")
        finally:
            os.unlink(f.name)

    def shell_block(self, doc, first_line, text):
        lines = text.replace("\\\n", " ").split("\n")
        # A transcript (some line has a `$ ` prompt): only the prompted lines are commands.
        transcript = any(l.startswith("$ ") for l in lines)
        for i, line in enumerate(lines):
            if transcript and not line.startswith("$ "):
                continue
            line = line[2:] if transcript else line
            where = f"{os.path.relpath(doc, self.source)}:{first_line + i}"
            try:
                cmds = commands_of_line(line)
            except ValueError as e:
                self.fail(where, f"cannot split `{line}`: {e}")
                continue
            for c in cmds:
                if c[0] == "seedfs" or c[0].endswith("/seedfs"):
                    self.seedfs_args(where, normalize_placeholders(c))
                elif c[0].startswith(("scripts/", "tests/")):
                    self.script(where, c)

    def document(self, doc):
        text = open(doc).read()
        blocks = []
        for m in BLOCK.finditer(text):
            first_line = text.count("\n", 0, m.start(2)) + 1
            blocks.append((m.start(), m.end()))
            lang = m.group(1)
            if lang in ("sh", "bash", "console", "shell"):
                self.shell_block(doc, first_line, m.group(2))
            elif lang == "toml":
                self.toml(f"{os.path.relpath(doc, self.source)}:{first_line}", m.group(2))
        for m in INLINE.finditer(text):
            if any(a <= m.start() < b for a, b in blocks):
                continue
            where = f"{os.path.relpath(doc, self.source)}:{text.count(chr(10), 0, m.start()) + 1}"
            try:
                words = shlex.split(m.group(1))
            except ValueError:
                words = m.group(1).split()
            self.seedfs_args(where, normalize_placeholders(words))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seedfs", required=True)
    p.add_argument("--source", required=True)
    a = p.parse_args()
    c = Checker(os.path.abspath(a.seedfs), os.path.abspath(a.source))
    if not c.binary_only_parses():
        print(f"docs_check: {a.seedfs} does not stop after parsing under SEEDFS_CHECK_ARGS=1", file=sys.stderr)
        return 1
    for doc in documents(c.source):
        c.document(doc)
    for f in c.failures:
        print(f, file=sys.stderr)
    print(f"docs_check: {c.checked} commands and config blocks checked, {len(c.failures)} wrong")
    return 1 if c.failures or c.checked < 20 else 0


if __name__ == "__main__":
    sys.exit(main())
