#!/usr/bin/env bash
# Backup/restore throughput and peak memory of `runbook` against the anchors, in one run on the
# same data: `tar | zstd -3 -T2`, `tar | gzip -6 | openssl enc` (what scripts do today) and
# restic (Debian package). Prints a Markdown table; figures are ratios against anchors measured
# in the same run.
#
# Usage: benches/files.sh [SIZE_MIB...]      (default: 512; e.g. `benches/files.sh 512 2048`)
#        TOOLS="runbook" benches/files.sh 2048   (only some tools, e.g. for the memory check)
# Needs: restic, zstd, gzip, openssl, GNU time (apt-get install restic zstd openssl time).
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-512}")
work=${BENCH_DIR:-$PWD/target/bench}
mkdir -p "$work"
cargo build --release --locked -q
bin=$PWD/target/release/runbook
export BENCH_KEY=$($bin keygen 2>/dev/null)
export RESTIC_PASSWORD=bench-password
threads=$(nproc)

tools=${TOOLS:-runbook tar-zstd tar-gzip-openssl restic}
wanted() { [[ " $tools " == *" ${1%-*} "* ]]; }

source benches/lib.sh

for size in "${sizes[@]}"; do
    corpus=$work/corpus-$size
    [ -d "$corpus" ] || python3 ../shared/bench/gen-corpus.py "$corpus" "$size" >/dev/null
    bytes=$(du -sb "$corpus" | cut -f1)
    results=$work/results-$size.txt
    : > "$results"
    rm -rf "$work/store" "$work/restic" "$work"/out-* "$work"/*.tar.*
    plan runbook-backup "rm -rf $work/store" "$bin run $PWD/benches/backup.rhai --param source=$corpus --param store=$work/store"
    plan runbook-restore "rm -rf $work/out-runbook" "$bin run $PWD/benches/restore.rhai --param store=$work/store --param target=$work/out-runbook"
    plan tar-zstd-backup "" "tar -C $corpus -cf - . | zstd -3 -T$threads -q -f -o $work/plain.tar.zst"
    plan tar-zstd-restore "rm -rf $work/out-zstd; mkdir -p $work/out-zstd" "zstd -dc $work/plain.tar.zst | tar -C $work/out-zstd -xf -"
    plan tar-gzip-openssl-backup "" "tar -C $corpus -cf - . | gzip -6 | openssl enc -aes-256-cbc -pbkdf2 -pass env:RESTIC_PASSWORD > $work/plain.tar.gz.enc"
    plan tar-gzip-openssl-restore "rm -rf $work/out-gzip; mkdir -p $work/out-gzip" "openssl enc -d -aes-256-cbc -pbkdf2 -pass env:RESTIC_PASSWORD < $work/plain.tar.gz.enc | gzip -d | tar -C $work/out-gzip -xf -"
    # A fresh repository for each backup run: a second backup into the same one would only
    # find everything already there.
    plan restic-backup "rm -rf $work/restic; restic init -q -r $work/restic" "restic -q -r $work/restic backup $corpus"
    plan restic-restore "rm -rf $work/out-restic" "restic -q -r $work/restic restore latest --target $work/out-restic"
    run_plan
    stored=$(du -sb "$work/store" | cut -f1)

    echo
    echo "### ${size} MiB corpus ($(numfmt --to=iec-i --suffix=B "$bytes"), stored by runbook: $(numfmt --to=iec-i --suffix=B "$stored")), $threads cores, median of ${REPEAT:-3} runs"
    echo
    # shellcheck disable=SC2086
    table "$bytes" $tools
    echo
    if [ "$tools" = "runbook tar-zstd tar-gzip-openssl restic" ]; then
        echo "Ratios (higher is better for runbook): backup $(ratio restic-backup runbook-backup)x restic, $(ratio tar-zstd-backup runbook-backup)x tar|zstd -T$threads; restore $(ratio restic-restore runbook-restore)x restic, $(ratio tar-zstd-restore runbook-restore)x zstd -d|tar"
    fi
done
