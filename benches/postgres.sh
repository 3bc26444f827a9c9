#!/usr/bin/env bash
# Database dump + upload and download + restore: `runbook` through an S3 server on loopback
# (s3s-fs, `examples/s3_server.rs`) vs plain `pg_dump -Fc > file` and `pg_restore -j2 file`,
# on a `pgbench -i -s SCALE` database in a throw-away cluster, same run. Prints a Markdown
# table and the wall-time ratios (target: runbook <= 1.1x the plain tools).
#
# Usage: benches/postgres.sh [SCALE]      (default 50, about 750 MiB of tables and indexes)
# Needs: PostgreSQL server + client packages, GNU time, python3. Run as root or as a user
# that may run initdb.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-50}
work=${BENCH_DIR:-$PWD/target/bench}
mkdir -p "$work"
cargo build --release --locked -q
cargo build --release --locked -q --example s3_server
bin=$PWD/target/release/runbook
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A throw-away cluster (as the postgres user when root: the server refuses to run as root).
pg=$(mktemp -d /tmp/rbbench-pg.XXXXXX)
as_pg=()
if [ "$(id -u)" = 0 ]; then chown postgres "$pg"; as_pg=(runuser -u postgres --); fi
pgport=$(free_port)
"${as_pg[@]}" "$pgbin/initdb" -D "$pg/data" -U postgres -A trust --no-sync >/dev/null
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$pg/data" -l "$pg/log" -w \
    -o "-p $pgport -k $pg -c listen_addresses=127.0.0.1 -c max_wal_size=4GB" start >/dev/null

root=$work/s3-pg-root
rm -rf "$root" "$work/plain.dump"
mkdir -p "$root/bench"
port=$(free_port)
export S3_KEY=bench-access S3_SECRET=bench-secret-key-0123456789 S3_ENDPOINT=http://127.0.0.1:$port
target/release/examples/s3_server "$root" "$port" "$S3_KEY" "$S3_SECRET" &
server=$!
cleanup() {
    kill $server 2>/dev/null || true
    "${as_pg[@]}" "$pgbin/pg_ctl" -D "$pg/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$pg"
}
trap cleanup EXIT
sleep 1

export PGHOST=127.0.0.1 PGPORT=$pgport PGUSER=postgres
export BENCH_DB_URL="postgres://postgres@127.0.0.1:$pgport/bench?sslmode=disable"
export BENCH_KEY=$($bin keygen 2>/dev/null)
createdb bench
pgbench -q -i -s "$scale" bench >/dev/null 2>&1
dbsize=$(psql -XAtc "SELECT pg_database_size('bench')" bench)

results=$work/results-pg.txt
: > "$results"
measure() {
    local label=$1; shift
    # Each measurement starts from a checkpointed server and clean page cache writeback, so
    # one run does not pay for the previous run's dirty buffers.
    psql -XAtqc CHECKPOINT bench; sync; sleep 2
    /usr/bin/time -f "%e %M" -o "$work/time.txt" bash -c "$*" >/dev/null 2>"$work/err.txt" \
        || { echo "FAILED: $label"; cat "$work/err.txt"; exit 1; }
    read -r secs rss < "$work/time.txt"
    echo "$label $secs $rss" >> "$results"
}
measure plain-dump "pg_dump -Fc -f $work/plain.dump bench"
measure plain-restore "createdb plain_restored && pg_restore -j2 -d plain_restored $work/plain.dump"
measure runbook-dump "$bin run $PWD/benches/postgres.rhai"
measure runbook-restore "$bin run $PWD/benches/postgres.rhai --param mode=restore --param target_db=runbook_restored --param jobs=1"
measure runbook-restore-j2 "$bin run $PWD/benches/postgres.rhai --param mode=restore --param target_db=runbook_restored_j2 --param jobs=2"
rows_plain=$(psql -XAtc "SELECT count(*) FROM pgbench_accounts" plain_restored)
rows_runbook=$(psql -XAtc "SELECT count(*) FROM pgbench_accounts" runbook_restored)
[ "$rows_plain" = "$rows_runbook" ] || { echo "row counts differ: $rows_plain vs $rows_runbook"; exit 1; }
stored=$(du -sb "$root/bench/runbook-pg" | cut -f1)
plain_size=$(stat -c %s "$work/plain.dump")

echo
echo "### pgbench scale $scale ($(awk -v b="$dbsize" 'BEGIN { printf "%.0f MiB", b/1048576 }') database), $(nproc) cores"
echo
echo "| | dump wall s | dump peak RSS | restore wall s | restore peak RSS | stored |"
echo "|---|---:|---:|---:|---:|---:|"
for tool in plain runbook runbook-j2; do
    read -r _ ds dr < <(grep "^${tool%-j2}-dump " "$results")
    read -r _ rs rr < <(grep "^$tool-restore " "$results" || grep "^runbook-restore-j2 " "$results")
    size=$plain_size; label='`pg_dump -Fc` / `pg_restore -j2`'
    if [ "$tool" = runbook ]; then size=$stored; label='runbook via S3, restore `jobs: 1` (streamed, one transaction)'; fi
    if [ "$tool" = runbook-j2 ]; then size=$stored; label='runbook via S3, restore `jobs: 2` (temporary file, `pg_restore -j2`)'; fi
    awk -v t="$label" -v ds="$ds" -v dr="$dr" -v rs="$rs" -v rr="$rr" -v s="$size" 'BEGIN {
        printf "| %s | %.1f | %.0f MiB | %.1f | %.0f MiB | %.0f MiB |\n", t, ds, dr/1024, rs, rr/1024, s/1048576 }'
done
echo
awk '{ t[$1] = $2 } END { printf "Ratios (runbook wall time / plain tools, target <= 1.1x): dump %.2fx, restore %.2fx (jobs: 1), %.2fx (jobs: 2)\n",
    t["runbook-dump"]/t["plain-dump"], t["runbook-restore"]/t["plain-restore"], t["runbook-restore-j2"]/t["plain-restore"] }' "$results"
