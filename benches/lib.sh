# Shared by the benchmark scripts (sourced, not run): repeated measurements and the results
# table. A shared VM's timings swing by ±20 % from one run to the next (even the CPU time of the
# same work does), so every command runs REPEAT times (default 3), in rounds across all tools,
# and the median wall time counts; peak RSS is the largest seen.
#
# The caller sets: $work (scratch folder), $results (file the measurements go to), and may
# define `wanted LABEL` (default: every label) to skip tools.

declare -F wanted >/dev/null || wanted() { return 0; }

# plan LABEL SETUP COMMAND: adds a measurement to the plan: SETUP (untimed; "" for none), then
# COMMAND under GNU time, from a clean page cache.
planned_labels=() planned_setups=() planned_commands=()
plan() {
    wanted "$1" || return 0
    planned_labels+=("$1") planned_setups+=("$2") planned_commands+=("$3")
}

# run_plan: runs the planned measurements in REPEAT rounds (each round runs every command once,
# in plan order, so a slow spell of the machine hits every tool alike), then appends
# "LABEL median_secs max_rss_kib runs..." per label to $results and empties the plan.
run_plan() {
    local -A runs=() rss_max=()
    local round i label secs rss median
    for ((round = 0; round < ${REPEAT:-3}; round++)); do
        for i in "${!planned_labels[@]}"; do
            label=${planned_labels[$i]}
            if [ -n "${planned_setups[$i]}" ]; then bash -c "${planned_setups[$i]}" >/dev/null 2>&1; fi
            sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
            /usr/bin/time -f "%e %M" -o "$work/time.txt" bash -c "${planned_commands[$i]}" \
                >/dev/null 2>"$work/err.txt" || { echo "FAILED: $label"; cat "$work/err.txt"; exit 1; }
            read -r secs rss < "$work/time.txt"
            runs[$label]+=" $secs"
            if (( rss > ${rss_max[$label]:-0} )); then rss_max[$label]=$rss; fi
        done
    done
    for label in "${planned_labels[@]}"; do
        # shellcheck disable=SC2086
        median=$(printf '%s\n' ${runs[$label]} | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
        echo "$label $median ${rss_max[$label]}${runs[$label]}" >> "$results"
    done
    planned_labels=() planned_setups=() planned_commands=()
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
