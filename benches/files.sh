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

measure() { # label, command...: appends "label seconds maxrss_kib" to $results
    local label=$1; shift
    wanted "$label" || return 0
    sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
    /usr/bin/time -f "%e %M" -o "$work/time.txt" bash -c "$*" >/dev/null 2>"$work/err.txt" \
        || { echo "FAILED: $label"; cat "$work/err.txt"; exit 1; }
    read -r secs rss < "$work/time.txt"
    echo "$label $secs $rss" >> "$results"
}

for size in "${sizes[@]}"; do
    corpus=$work/corpus-$size
    [ -d "$corpus" ] || python3 ../shared/bench/gen-corpus.py "$corpus" "$size" >/dev/null
    bytes=$(du -sb "$corpus" | cut -f1)
    results=$work/results-$size.txt
    : > "$results"
    rm -rf "$work/store" "$work/restic" "$work"/out-* "$work"/*.tar.*
    measure "runbook-backup" "$bin run $PWD/benches/backup.rhai --param source=$corpus --param store=$work/store"
    measure "runbook-restore" "$bin run $PWD/benches/restore.rhai --param store=$work/store --param target=$work/out-runbook"
    measure "tar-zstd-backup" "tar -C $corpus -cf - . | zstd -3 -T$threads -q > $work/plain.tar.zst"
    measure "tar-zstd-restore" "mkdir -p $work/out-zstd && zstd -dc $work/plain.tar.zst | tar -C $work/out-zstd -xf -"
    measure "tar-gzip-openssl-backup" "tar -C $corpus -cf - . | gzip -6 | openssl enc -aes-256-cbc -pbkdf2 -pass env:RESTIC_PASSWORD > $work/plain.tar.gz.enc"
    measure "tar-gzip-openssl-restore" "mkdir -p $work/out-gzip && openssl enc -d -aes-256-cbc -pbkdf2 -pass env:RESTIC_PASSWORD < $work/plain.tar.gz.enc | gzip -d | tar -C $work/out-gzip -xf -"
    if wanted restic-x; then restic init -q -r "$work/restic" >/dev/null; fi
    measure "restic-backup" "restic -q -r $work/restic backup $corpus"
    measure "restic-restore" "restic -q -r $work/restic restore latest --target $work/out-restic"
    stored=$(du -sb "$work/store" | cut -f1)

    echo
    echo "### ${size} MiB corpus ($(numfmt --to=iec-i --suffix=B "$bytes"), stored by runbook: $(numfmt --to=iec-i --suffix=B "$stored")), $threads cores"
    echo
    echo "| tool | backup MiB/s | backup peak RSS | restore MiB/s | restore peak RSS |"
    echo "|---|---:|---:|---:|---:|"
    for tool in $tools; do
        read -r _ bs br < <(grep "^$tool-backup " "$results")
        read -r _ rs rr < <(grep "^$tool-restore " "$results")
        awk -v t="$tool" -v b="$bytes" -v bs="$bs" -v br="$br" -v rs="$rs" -v rr="$rr" 'BEGIN {
            printf "| %s | %.0f | %.0f MiB | %.0f | %.0f MiB |\n", t, b/1048576/bs, br/1024, b/1048576/rs, rr/1024 }'
    done
    echo
    [ "$tools" = "runbook tar-zstd tar-gzip-openssl restic" ] && awk '{ t[$1] = $2 } END {
        printf "Ratios (higher is better for runbook): backup %.2fx restic, %.2fx tar|zstd -T; restore %.2fx restic, %.2fx zstd -d|tar\n",
            t["restic-backup"]/t["runbook-backup"], t["tar-zstd-backup"]/t["runbook-backup"],
            t["restic-restore"]/t["runbook-restore"], t["tar-zstd-restore"]/t["runbook-restore"] }' "$results"
done
