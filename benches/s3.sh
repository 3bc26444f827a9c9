#!/usr/bin/env bash
# Backup and restore through an S3 server on loopback: `runbook` vs restic's s3 backend, same
# server (s3s-fs, `examples/s3_server.rs`), same data, same run. Prints a Markdown table.
#
# Usage: benches/s3.sh [SIZE_MIB]      (default 512)
# Needs: restic, GNU time, python3 (corpus).
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-512}
work=${BENCH_DIR:-$PWD/target/bench}
mkdir -p "$work"
cargo build --release --locked -q
cargo build --release --locked -q --example s3_server
bin=$PWD/target/release/runbook
corpus=$work/corpus-$size
[ -d "$corpus" ] || python3 ../shared/bench/gen-corpus.py "$corpus" "$size" >/dev/null
bytes=$(du -sb "$corpus" | cut -f1)

root=$work/s3-root
rm -rf "$root" "$work"/out-s3-*
mkdir -p "$root/bench"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export S3_KEY=bench-access S3_SECRET=bench-secret-key-0123456789 S3_ENDPOINT=http://127.0.0.1:$port
target/release/examples/s3_server "$root" "$port" "$S3_KEY" "$S3_SECRET" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
sleep 1
export BENCH_KEY=$($bin keygen 2>/dev/null)
export AWS_ACCESS_KEY_ID=$S3_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET RESTIC_PASSWORD=bench-password
repo="s3:$S3_ENDPOINT/bench/restic"

results=$work/results-s3.txt
: > "$results"
source benches/lib.sh
plan runbook-backup "" "$bin run $PWD/benches/s3.rhai --param source=$corpus"
plan runbook-restore "rm -rf $work/out-s3-runbook" "$bin run $PWD/benches/s3.rhai --param mode=restore --param target=$work/out-s3-runbook"
# A fresh repository for each backup run (a second backup into one would find everything there).
plan restic-backup "rm -rf $root/bench/restic; restic init -q -r $repo" "restic -q -r $repo backup $corpus"
plan restic-restore "rm -rf $work/out-s3-restic" "restic -q -r $repo restore latest --target $work/out-s3-restic"
run_plan

echo
echo "### ${size} MiB corpus through S3 on loopback (s3s-fs), $(nproc) cores, median of ${REPEAT:-3} runs"
echo
table "$bytes" runbook restic
echo
echo "Ratios: backup $(ratio restic-backup runbook-backup)x restic, restore $(ratio restic-restore runbook-restore)x restic"
