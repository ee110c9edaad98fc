#!/usr/bin/env bash
# Wall time of `facejnd transcode --qp N` against the ffmpeg command line doing the same transcode: same input,
# same encoder, preset and rate-control settings, audio copied. Both run alternately in one session; the ratio of
# the medians is printed. Usage: Benchmarks/transcode_vs_ffmpeg.sh [clip] [preset] [qp] [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
clip=${1:-}
preset=${2:-medium}
qp=${3:-30}
runs=${4:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -z "$clip" ]; then
  # The bundled sample is 3 s; loop it to 18 s so start-up costs do not dominate.
  ffmpeg -v error -stream_loop 5 -i samples/group_video_01.mp4 -c copy "$tmp/clip.mp4"
  clip="$tmp/clip.mp4"
fi
swift build -c release --product facejnd >/dev/null
bin=.build/release/facejnd
# The exact settings facejnd's --qp uses (see README "How QP is made exact").
ff=(ffmpeg -v error -y -i "$clip" -map 0 -c copy -c:v libx264 -preset "$preset" -crf "$qp" -aq-mode variance
    -aq-strength 0.01 -x264-params qcomp=1:ipratio=1:pbratio=1)
now() { date +%s.%N; }
fj=(); fm=()
for i in $(seq "$runs"); do
  t0=$(now); "$bin" transcode "$clip" -o "$tmp/fj.mp4" --preset "$preset" --qp "$qp" >/dev/null; t1=$(now)
  "${ff[@]}" "$tmp/ff.mp4"; t2=$(now)
  fj+=("$(awk "BEGIN {print $t1 - $t0}")"); fm+=("$(awk "BEGIN {print $t2 - $t1}")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mfj=$(median "${fj[@]}"); mff=$(median "${fm[@]}")
frames=$(ffprobe -v error -select_streams v:0 -count_packets -show_entries stream=nb_read_packets -of csv=p=0 "$clip")
bytes_fj=$(stat -c %s "$tmp/fj.mp4"); bytes_ff=$(stat -c %s "$tmp/ff.mp4")
echo "clip: $clip ($frames frames), libx264 preset $preset, QP $qp, $runs runs each"
echo "facejnd transcode: median ${mfj}s  (${bytes_fj} bytes)"
echo "ffmpeg CLI:        median ${mff}s  (${bytes_ff} bytes)"
echo "wall-time ratio facejnd/ffmpeg: $(awk "BEGIN {printf \"%.3f\", $mfj / $mff}")"
