# Shared by the benchmark scripts (sourced, not run): repeated measurements and the results
# table. A shared VM's timings swing by ±20 % from one run to the next, so each command runs
# REPEAT times (default 3) and the median wall time counts; peak RSS is the largest seen.
#
# The caller sets: $work (scratch folder), $results (file the measurements go to), and may
# define `wanted LABEL` (default: every label) to skip tools.

declare -F wanted >/dev/null || wanted() { return 0; }

# measure LABEL SETUP COMMAND: runs SETUP (untimed; "" for none), then COMMAND under GNU time,
# from a clean page cache, REPEAT times; appends "LABEL median_secs max_rss_kib runs..." to
# $results.
measure() {
    local label=$1 setup=$2 cmd=$3 runs=() rss_max=0 secs rss
    wanted "$label" || return 0
    for ((i = 0; i < ${REPEAT:-3}; i++)); do
        if [ -n "$setup" ]; then bash -c "$setup" >/dev/null 2>&1; fi
        sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
        /usr/bin/time -f "%e %M" -o "$work/time.txt" bash -c "$cmd" >/dev/null 2>"$work/err.txt" \
            || { echo "FAILED: $label"; cat "$work/err.txt"; exit 1; }
        read -r secs rss < "$work/time.txt"
        runs+=("$secs")
        if (( rss > rss_max )); then rss_max=$rss; fi
    done
    local median
    median=$(printf '%s\n' "${runs[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
    echo "$label $median $rss_max ${runs[*]}" >> "$results"
}

# table BYTES TOOL...: the Markdown table of backup/restore throughput (from the medians) and
# peak RSS of each tool, then every run's wall time.
table() {
    local bytes=$1 tool; shift
    echo "| tool | backup MiB/s | backup peak RSS | restore MiB/s | restore peak RSS |"
    echo "|---|---:|---:|---:|---:|"
    for tool in "$@"; do
        read -r _ bs br _ < <(grep "^$tool-backup " "$results")
        read -r _ rs rr _ < <(grep "^$tool-restore " "$results")
        awk -v t="$tool" -v b="$bytes" -v bs="$bs" -v br="$br" -v rs="$rs" -v rr="$rr" 'BEGIN {
            printf "| %s | %.0f | %.0f MiB | %.0f | %.0f MiB |\n", t, b/1048576/bs, br/1024, b/1048576/rs, rr/1024 }'
    done
    echo
    echo "Wall times of each run (s), median first counted: "
    awk '{ printf "%s: %s (runs:", $1, $2; for (i = 4; i <= NF; i++) printf " %s", $i; print ")" }' "$results"
}

# ratio LABEL_A LABEL_B: median time of A divided by that of B (how many times faster B is).
ratio() {
    awk -v a="$1" -v b="$2" '$1 == a { ta = $2 } $1 == b { tb = $2 } END { printf "%.2f", ta / tb }' "$results"
}
