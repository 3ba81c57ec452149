#!/usr/bin/env bash
# Builds the end-to-end fixture: a real Rust project whose ~65 units come from
# Debian's crate packages (offline, through cargo's source replacement), as a
# git repo with target/ built for debug, release and tests. It is the "root"
# checkout of the e2e tests; each test makes its own `git worktree` beside it.
#
#   tests/e2e/make-fixture.sh <dir>     # cached: a second run returns at once
#
# The graph has proc-macros (serde_derive, thiserror-impl, clap_derive), 20-odd
# build scripts, one that compiles C and assembly through `cc` (ring 0.16) and
# one that finds zlib through pkg-config (libz-sys, via flate2).
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
mkdir -p "$main/src" "$main/.cargo"

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
[package]
name = "seedfs-e2e-app"
version = "0.1.0"
edition = "2021"

[dependencies]
anyhow = "1"
thiserror = "1"
clap = { version = "4", features = ["derive"] }
regex = "1"
serde = { version = "1", features = ["derive"] }
serde_json = "1"
rand = "0.8"
flate2 = { version = "1", default-features = false, features = ["zlib"] }
ring = "0.16"
sha2 = "0.10"
log = "0.4"
env_logger = { version = "0.9", default-features = false }
walkdir = "2"
chrono = { version = "0.4", default-features = false, features = ["clock", "std"] }
itertools = "0.10"
EOF

cat >"$main/src/main.rs" <<'EOF'
//! The seedfs e2e application: every dependency does a little real work, so
//! that a broken artifact (a truncated rlib, a stale build-script output)
//! shows up as a build or a test failure.
use std::io::{Read, Write};

use anyhow::{Context, Result};
use clap::Parser;
use itertools::Itertools;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::Digest;

#[derive(Parser, Debug)]
#[command(about = "seedfs e2e fixture")]
struct Args {
    /// How many records to make.
    #[arg(long, default_value_t = 3)]
    count: usize,
    /// Directory to list.
    #[arg(long, default_value = ".")]
    dir: String,
}

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("name {0:?} is not lowercase")]
    BadName(String),
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Record {
    name: String,
    sha256: String,
    ring_sha256: String,
    when: i64,
}

fn make_record(name: &str, when: i64) -> Result<Record> {
    let re = regex::Regex::new(r"^[a-z][a-z0-9-]*$")?;
    if !re.is_match(name) {
        return Err(AppError::BadName(name.to_string()).into());
    }
    let sha256 = hex(&sha2::Sha256::digest(name.as_bytes()));
    let ring_sha256 = hex(ring::digest::digest(&ring::digest::SHA256, name.as_bytes()).as_ref());
    Ok(Record { name: name.to_string(), sha256, ring_sha256, when })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).join("")
}

fn roundtrip_gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data)?;
    let packed = enc.finish()?;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&packed[..]).read_to_end(&mut out)?;
    Ok(out)
}

fn main() -> Result<()> {
    env_logger::init();
    let args = Args::parse();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let now = chrono::Utc::now().timestamp();
    let records: Vec<Record> = (0..args.count)
        .map(|i| make_record(&format!("item-{i}-{}", rng.gen_range(0..1000)), now))
        .collect::<Result<_>>()?;
    let json = serde_json::to_string(&records)?;
    let back = roundtrip_gzip(json.as_bytes())?;
    let parsed: Vec<Record> = serde_json::from_slice(&back).context("parsing records")?;
    log::info!("{} records", parsed.len());
    let files = walkdir::WalkDir::new(&args.dir).max_depth(1).into_iter().count();
    println!("{} records, {} entries in {}", parsed.len(), files, args.dir);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_agree() {
        let r = make_record("seedfs", 0).unwrap();
        assert_eq!(r.sha256, r.ring_sha256);
    }

    #[test]
    fn gzip_roundtrip() {
        assert_eq!(roundtrip_gzip(b"seedfs").unwrap(), b"seedfs");
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(make_record("Seedfs", 0).is_err());
    }
}
EOF

printf '/target\n' >"$main/.gitignore"

cd "$main"
git init -q -b main
git add -A
git -c user.name=seedfs -c user.email=seedfs@localhost commit -q -m "e2e fixture"

start=$(date +%s.%N)
cargo generate-lockfile --offline -q
git add Cargo.lock
git -c user.name=seedfs -c user.email=seedfs@localhost commit -q -m "lock file"
cargo build 2>&1 | tail -n 3
debug_done=$(date +%s.%N)
cargo build --release 2>&1 | tail -n 3
release_done=$(date +%s.%N)
cargo test --no-run 2>&1 | tail -n 3
test_done=$(date +%s.%N)

units=$(cargo build -v 2>&1 | grep -c '^ *Fresh ')
files=$(find target -type f | wc -l)
size=$(du -sh target | cut -f1)
timing=$(printf 'debug %.1f s, release %.1f s, test %.1f s' \
  "$(echo "$debug_done - $start" | bc)" "$(echo "$release_done - $debug_done" | bc)" \
  "$(echo "$test_done - $release_done" | bc)")
echo "make-fixture: $units units, $files files ($size) in target/; built in: $timing" | tee "$dir/summary"
echo "$stamp" >"$dir/stamp"
