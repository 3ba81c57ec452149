#!/usr/bin/env bash
# Builds the end-to-end fixture: a real cargo workspace of 8 members with path
# dependencies between them, on top of ~55 units from Debian's crate packages
# (offline, through cargo's source replacement), as a git repo with target/
# built for debug, release, tests and a stripped profile. It is the "root" checkout of the e2e
# tests; each test makes its own `git worktree` beside it.
#
#   tests/e2e/make-fixture.sh <dir>     # cached: a second run returns at once
#
# The registry graph has proc-macros (serde_derive, thiserror-impl,
# clap_derive), 20-odd build scripts, one that compiles C and assembly through
# `cc` (ring 0.16) and one that finds zlib through pkg-config (libz-sys, via
# flate2). The workspace's members, under crates/ (package names in brackets):
#
#   base [e2e-base]            thiserror, regex; the Describe trait
#   macros [e2e-macros]        a proc-macro: #[derive(Describe)], on plain token trees
#   buildinfo [e2e-buildinfo]  a build script with rerun-if-changed=schema.txt
#   model [e2e-model]          serde, chrono, base, macros; include_str! of
#                              shared/version.txt, a file outside every package
#   codec [e2e-codec]          flate2, base
#   digest [e2e-digest]        ring, sha2, base
#   app [seedfs-e2e-app]       the binary: clap, anyhow, ..., every member but tools
#   tools [e2e-tools]          a second binary: digest, base
#
# Branch `other` differs from main in model and in tools (a line each).
set -euo pipefail

dir=${1:?usage: make-fixture.sh <dir>}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
here=$(cd "$(dirname "$0")" && pwd)

command -v cargo >/dev/null || { echo "make-fixture: no cargo on PATH (scripts/setup.sh installs it)" >&2; exit 1; }

# The stamp names everything the result depends on, so that a change to this
# script or to the toolchain rebuilds the fixture instead of testing a stale one.
stamp="$(sha256sum "$here/make-fixture.sh" | cut -c1-16) $(cargo --version) $(rustc --version)"
if [[ -f "$dir/stamp" && "$(cat "$dir/stamp")" == "$stamp" ]]; then
  echo "make-fixture: $dir is up to date"
  exit 0
fi

registry=/usr/share/cargo/registry
for c in anyhow thiserror clap clap_derive regex serde serde_derive serde_json rand flate2 libz-sys \
         ring sha2 log env_logger walkdir chrono itertools cc; do
  compgen -G "$registry/$c-[0-9]*" >/dev/null ||
    { echo "make-fixture: Debian's crate $c is missing under $registry (scripts/setup.sh installs it)" >&2; exit 1; }
done

rm -rf "$dir/main" "$dir/stamp"
main=$dir/main
mkdir -p "$main/.cargo" "$main/shared"
for m in base macros buildinfo model codec digest app tools; do mkdir -p "$main/crates/$m/src"; done

cat >"$main/.cargo/config.toml" <<EOF
# Offline: crates come from Debian's librust-*-dev packages.
[source.crates-io]
replace-with = "debian"

[source.debian]
directory = "$registry"

[net]
offline = true
EOF

cat >"$main/Cargo.toml" <<'EOF'
[workspace]
members = ["crates/*"]
resolver = "2"

[workspace.package]
version = "0.1.0"
edition = "2021"

# Stripped by the linker, debuginfo packed into .dwp files: a workspace build
# of this profile replaces outputs that are hardlinks of the root's.
[profile.stripped]
inherits = "dev"
strip = true
split-debuginfo = "packed"
EOF

# member <dir> <package name> <[dependencies] lines> [more manifest lines]
member() {
  {
    printf '[package]\nname = "%s"\nversion.workspace = true\nedition.workspace = true\n' "$2"
    if [[ -n ${4:-} ]]; then printf '%s\n' "$4"; fi
    printf '\n[dependencies]\n%s\n' "$3"
  } >"$main/crates/$1/Cargo.toml"
}
no_doctest=$'\n[lib]\ndoctest = false'

member base e2e-base $'thiserror = "1"\nregex = "1"' "$no_doctest"
cat >"$main/crates/base/src/lib.rs" <<'EOF'
//! What every member shares: the error type, name checks, the Describe trait.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("name {0:?} is not lowercase")]
    BadName(String),
}

pub trait Describe {
    fn describe() -> &'static str;
}

pub fn check_name(name: &str) -> Result<(), Error> {
    let re = regex::Regex::new(r"^[a-z][a-z0-9-]*$").expect("valid regex");
    if re.is_match(name) { Ok(()) } else { Err(Error::BadName(name.to_string())) }
}
EOF

member macros e2e-macros '' $'\n[lib]\nproc-macro = true\ndoctest = false'
cat >"$main/crates/macros/src/lib.rs" <<'EOF'
//! #[derive(Describe)]: the type's name, read from plain token trees.
use proc_macro::{TokenStream, TokenTree};

#[proc_macro_derive(Describe)]
pub fn derive_describe(input: TokenStream) -> TokenStream {
    let mut tokens = input.into_iter();
    let mut name = None;
    while let Some(t) = tokens.next() {
        if let TokenTree::Ident(i) = &t {
            if i.to_string() == "struct" || i.to_string() == "enum" {
                name = tokens.next().map(|n| n.to_string());
                break;
            }
        }
    }
    let name = name.expect("Describe: a struct or an enum");
    format!("impl e2e_base::Describe for {name} {{ fn describe() -> &'static str {{ \"{name}\" }} }}")
        .parse()
        .expect("a valid impl")
}
EOF

member buildinfo e2e-buildinfo '' "$no_doctest"
printf 'name\nsha256\nring_sha256\nwhen\n' >"$main/crates/buildinfo/schema.txt"
cat >"$main/crates/buildinfo/build.rs" <<'EOF'
// Turns schema.txt into a Rust constant. Cargo reruns this only when
// schema.txt (or this file) is newer than the last run's output.
use std::{env, fs, path::Path};

fn main() {
    println!("cargo:rerun-if-changed=schema.txt");
    println!("cargo:rerun-if-changed=build.rs");
    let schema = fs::read_to_string("schema.txt").expect("schema.txt");
    let fields: Vec<String> = schema.lines().filter(|l| !l.is_empty()).map(|l| format!("{l:?}")).collect();
    let out = Path::new(&env::var("OUT_DIR").unwrap()).join("schema.rs");
    fs::write(out, format!("pub const FIELDS: &[&str] = &[{}];\n", fields.join(", "))).unwrap();
}
EOF
cat >"$main/crates/buildinfo/src/lib.rs" <<'EOF'
//! The record schema, generated by build.rs from schema.txt.
include!(concat!(env!("OUT_DIR"), "/schema.rs"));
EOF

printf '1.0\n' >"$main/shared/version.txt"
member model e2e-model 'serde = { version = "1", features = ["derive"] }
serde_json = "1"
chrono = { version = "0.4", default-features = false, features = ["clock", "std"] }
e2e-base = { path = "../base" }
e2e-macros = { path = "../macros" }' "$no_doctest"
cat >"$main/crates/model/src/lib.rs" <<'EOF'
//! The records the app makes, and their JSON.
use serde::{Deserialize, Serialize};

/// From outside every package: cargo records this file by its absolute path.
pub const VERSION: &str = include_str!("../../../shared/version.txt");

#[derive(Serialize, Deserialize, Debug, PartialEq, e2e_macros::Describe)]
pub struct Record {
    pub name: String,
    pub sha256: String,
    pub ring_sha256: String,
    pub when: i64,
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn to_json(records: &[Record]) -> serde_json::Result<String> {
    serde_json::to_string(records)
}

pub fn from_json(data: &[u8]) -> serde_json::Result<Vec<Record>> {
    serde_json::from_slice(data)
}

#[cfg(test)]
mod tests {
    use e2e_base::Describe;

    #[test]
    fn describes_itself() {
        assert_eq!(super::Record::describe(), "Record");
    }
}
EOF

member codec e2e-codec 'flate2 = { version = "1", default-features = false, features = ["zlib"] }
e2e-base = { path = "../base" }' "$no_doctest"
cat >"$main/crates/codec/src/lib.rs" <<'EOF'
//! gzip through the system zlib (libz-sys, found by pkg-config).
use std::io::{Read, Write};

pub fn roundtrip_gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data)?;
    let packed = enc.finish()?;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&packed[..]).read_to_end(&mut out)?;
    Ok(out)
}
EOF

member digest e2e-digest 'ring = "0.16"
sha2 = "0.10"
e2e-base = { path = "../base" }' "$no_doctest"
cat >"$main/crates/digest/src/lib.rs" <<'EOF'
//! SHA-256 twice: ring (C and assembly built by cc) and sha2 (pure Rust).
use sha2::Digest;

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256(data: &[u8]) -> String {
    hex(&sha2::Sha256::digest(data))
}

pub fn ring_sha256(data: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, data).as_ref())
}

#[cfg(test)]
mod tests {
    #[test]
    fn digests_agree() {
        assert_eq!(super::sha256(b"seedfs"), super::ring_sha256(b"seedfs"));
    }
}
EOF

member app seedfs-e2e-app 'anyhow = "1"
clap = { version = "4", features = ["derive"] }
rand = "0.8"
log = "0.4"
env_logger = { version = "0.9", default-features = false }
walkdir = "2"
itertools = "0.10"
e2e-base = { path = "../base" }
e2e-buildinfo = { path = "../buildinfo" }
e2e-codec = { path = "../codec" }
e2e-digest = { path = "../digest" }
e2e-model = { path = "../model" }'
cat >"$main/crates/app/src/main.rs" <<'EOF'
//! The seedfs e2e application: every dependency does a little real work, so
//! that a broken artifact (a truncated rlib, a stale build-script output)
//! shows up as a build or a test failure.
use anyhow::{Context, Result};
use clap::Parser;
use e2e_base::Describe;
use e2e_model::Record;
use itertools::Itertools;
use rand::{Rng, SeedableRng};

#[derive(Parser, Debug)]
#[command(about = "seedfs e2e fixture")]
struct Args {
    /// How many records to make.
    #[arg(long, default_value_t = 3)]
    count: usize,
    /// Directory to list.
    #[arg(long, default_value = ".")]
    dir: String,
    /// Print the dir this binary was built from (env!("CARGO_MANIFEST_DIR")) and exit.
    #[arg(long)]
    manifest_dir: bool,
}

fn make_record(name: &str, when: i64) -> Result<Record> {
    e2e_base::check_name(name)?;
    let sha256 = e2e_digest::sha256(name.as_bytes());
    let ring_sha256 = e2e_digest::ring_sha256(name.as_bytes());
    Ok(Record { name: name.to_string(), sha256, ring_sha256, when })
}

fn main() -> Result<()> {
    env_logger::init();
    let args = Args::parse();
    if args.manifest_dir {
        println!("{}", env!("CARGO_MANIFEST_DIR"));
        return Ok(());
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let now = e2e_model::now();
    let records: Vec<Record> = (0..args.count)
        .map(|i| make_record(&format!("item-{i}-{}", rng.gen_range(0..1000)), now))
        .collect::<Result<_>>()?;
    let json = e2e_model::to_json(&records)?;
    let back = e2e_codec::roundtrip_gzip(json.as_bytes())?;
    let parsed = e2e_model::from_json(&back).context("parsing records")?;
    log::info!("{} records", parsed.len());
    let files = walkdir::WalkDir::new(&args.dir).max_depth(1).into_iter().count();
    println!(
        "{} records ({}: {}), {} entries in {}, version {}",
        parsed.len(),
        Record::describe(),
        e2e_buildinfo::FIELDS.iter().join(","),
        files,
        args.dir,
        e2e_model::VERSION.trim()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_have_both_digests() {
        let r = make_record("seedfs", 0).unwrap();
        assert_eq!(r.sha256, r.ring_sha256);
    }

    #[test]
    fn gzip_roundtrip() {
        assert_eq!(e2e_codec::roundtrip_gzip(b"seedfs").unwrap(), b"seedfs");
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(make_record("Seedfs", 0).is_err());
    }
}
EOF

member tools e2e-tools $'e2e-base = { path = "../base" }\ne2e-digest = { path = "../digest" }'
cat >"$main/crates/tools/src/main.rs" <<'EOF'
//! A second binary: the SHA-256 of each argument.
fn main() {
    for arg in std::env::args().skip(1) {
        if let Err(e) = e2e_base::check_name(&arg) {
            eprintln!("{e}");
            std::process::exit(1);
        }
        println!("{}  {arg}", e2e_digest::sha256(arg.as_bytes()));
    }
}
EOF

printf '/target\n' >"$main/.gitignore"

cd "$main"
commit() { git -c user.name=seedfs -c user.email=seedfs@localhost commit -q -m "$1"; }
git init -q -b main
cargo generate-lockfile --offline -q
git add -A
commit "e2e fixture"
# Branch `other`: model and tools differ from main, nothing else does.
git checkout -q -b other
printf '\npub fn other_branch() -> bool { true }\n' >>crates/model/src/lib.rs
printf '\n#[allow(dead_code)]\nfn other_branch() {}\n' >>crates/tools/src/main.rs
git add -A
commit "other: a change in model and one in tools"
git checkout -q main

start=$(date +%s.%N)
cargo build 2>&1 | tail -n 3
debug_done=$(date +%s.%N)
cargo build --release 2>&1 | tail -n 3
release_done=$(date +%s.%N)
cargo test --no-run 2>&1 | tail -n 3
test_done=$(date +%s.%N)
cargo build --profile stripped 2>&1 | tail -n 1

units=$(cargo build -v 2>&1 | grep -c '^ *Fresh ')
files=$(find target -type f | wc -l)
size=$(du -sh target | cut -f1)
timing=$(printf 'debug %.1f s, release %.1f s, test %.1f s' \
  "$(echo "$debug_done - $start" | bc)" "$(echo "$release_done - $debug_done" | bc)" \
  "$(echo "$test_done - $release_done" | bc)")
echo "make-fixture: $units units, $files files ($size) in target/; built in: $timing" | tee "$dir/summary"
echo "$stamp" >"$dir/stamp"
