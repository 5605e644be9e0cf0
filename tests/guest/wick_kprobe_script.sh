#!/bin/sh
# Runs inside the qemu guest (Debian's kernel has kprobes; the host's has none): wick records
# a kprobe and a kretprobe on do_sys_openat2 around a static program making exactly N
# openat(2) calls, and `wick script` must show exactly N of each, all from that program's
# one process. Then the flight recorder fired by a kprobe: --snapshot-on the same kprobe with
# no gap and a limit of 3 writes exactly 3 snapshots, and counts the N - 3 hits over the limit.
#   wick_kprobe_script.sh WICK OPENAT_N N
set -e
wick="$1"
openat_n="$2"
n="$3"
"$wick" record -e kprobe:do_sys_openat2 -e kretprobe:do_sys_openat2 -o /tmp/k.wick -- \
  "$openat_n" "$n"
"$wick" script -i /tmp/k.wick | head -n 4
"$wick" script -i /tmp/k.wick --json >/tmp/k.json
grep '"comm":"openat_n"' /tmp/k.json >/tmp/mine.json || true
entries=$(grep -c '"event":"kprobe:do_sys_openat2"' /tmp/mine.json || true)
returns=$(grep -c '"event":"kretprobe:do_sys_openat2"' /tmp/mine.json || true)
pids=$(sed 's/.*"pid":\([0-9]*\),.*/\1/' /tmp/mine.json | sort -u | wc -l)
echo "wick script: kprobe=$entries kretprobe=$returns pids=$pids (want $n, $n, 1)"
if [ "$entries" -ne "$n" ] || [ "$returns" -ne "$n" ] || [ "$pids" -ne 1 ]; then
  echo "guest_wick_kprobe: FAIL"
  exit 1
fi

"$wick" record --overwrite -m 16 --snapshot-on kprobe:do_sys_openat2 --snapshot-gap 0 \
  --snapshot-limit 3 -o /tmp/s.wick -- "$openat_n" "$n" 2>/tmp/s.err
cat /tmp/s.err
over=$(sed -n 's/^wick record: \([0-9]*\) snapshot triggers ignored: over the limit.*/\1/p' /tmp/s.err)
files=$(ls /tmp/s.wick.* | wc -l)
echo "snapshot-on kprobe: files=$files over=$over (want 3, $((n - 3)))"
if [ "$files" -ne 3 ] || [ ! -f /tmp/s.wick.3 ] || [ "$over" != "$((n - 3))" ]; then
  echo "guest_wick_kprobe: FAIL (snapshot-on)"
  exit 1
fi
"$wick" report -i /tmp/s.wick.1 >/dev/null
echo "guest_wick_kprobe: PASS"
