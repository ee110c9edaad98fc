#!/usr/bin/env bash
# End-to-end wall time of `facejnd encode` (analysis, JND, planned encode, verification and repair passes)
# against the ffmpeg command line transcoding the same clip with the same codec and preset at the background QP,
# audio copied. Both run alternately in one session; the ratio of the medians is printed, with a per-stage split of
# facejnd's time from its report. Usage: Benchmarks/encode_vs_ffmpeg.sh [clip] [codec] [preset] [background-qp] [runs]
# [encode options...] (for example --chunk-seconds 1: everything after the fifth argument goes to facejnd encode).
# ffmpeg runs with -vsync passthrough, as facejnd keeps every frame and its timestamp.
set -euo pipefail
cd "$(dirname "$0")/.."
clip=${1:-samples/group_video_01.mp4}
codec=${2:-libx264}
preset=${3:-medium}
qp=${4:-40}
runs=${5:-3}
shift $(( $# < 5 ? $# : 5 ))
extra=("$@")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
swift build -c release --product facejnd >/dev/null
bin=.build/release/facejnd
ext="${clip##*.}"
ff=(ffmpeg -v error -y -i "$clip" -vsync passthrough -map 0:v:0 -map 0:a? -c:a copy -c:v "$codec" -preset "$preset" -qp "$qp")
now() { date +%s.%N; }
fj=(); fm=()
for i in $(seq "$runs"); do
  t0=$(now); "$bin" encode "$clip" -o "$tmp/fj.$ext" --codec "$codec" --preset "$preset" --background-qp "$qp" --report "$tmp/report.json" "${extra[@]}" >/dev/null; t1=$(now)
  "${ff[@]}" "$tmp/ff.$ext"; t2=$(now)
  fj+=("$(awk "BEGIN {print $t1 - $t0}")"); fm+=("$(awk "BEGIN {print $t2 - $t1}")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mfj=$(median "${fj[@]}"); mff=$(median "${fm[@]}")
echo "clip: $clip, $codec preset $preset, background QP $qp, $runs runs each, encode options: ${extra[*]:-none}"
echo "facejnd encode: median ${mfj}s  ($(stat -c %s "$tmp/fj.$ext") bytes)"
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); t=r['timing']; print('  stages (last run): ' + ', '.join(f'{k} {t[k]:.2f}s' for k in ['analyse','measure','encode','verify','total']) + f\", {len(r['passes'])} pass(es), {r['fidelity']['faces']} faces\")" "$tmp/report.json"
echo "ffmpeg CLI:     median ${mff}s  ($(stat -c %s "$tmp/ff.$ext") bytes, uniform QP $qp)"
echo "wall-time ratio facejnd/ffmpeg: $(awk "BEGIN {printf \"%.2f\", $mfj / $mff}")"
