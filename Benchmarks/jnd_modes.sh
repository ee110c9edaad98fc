#!/usr/bin/env bash
# JND oracle in crop and in-context mode on the same faces: time per face for each mode (one run each, same
# session) and how far apart the two JND QPs are. Usage: Benchmarks/jnd_modes.sh [clip] [every] [codec]
set -euo pipefail
cd "$(dirname "$0")/.."
clip=${1:-samples/group_video_01.mp4}
every=${2:-15}
codec=${3:-libx264}
swift build -c release --product facejnd >/dev/null
bin=.build/release/facejnd
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for mode in crop context; do
  s=$(date +%s.%N)
  "$bin" jnd measure "$clip" --every "$every" --codec "$codec" --mode "$mode" --json > "$tmp/$mode.jsonl"
  e=$(date +%s.%N)
  awk "BEGIN {print $e - $s}" > "$tmp/$mode.time"
done
python3 - "$tmp" "$clip" "$codec" <<'PY'
import json, sys
tmp, clip, codec = sys.argv[1:4]
rows = {m: [json.loads(l) for l in open(f"{tmp}/{m}.jsonl")] for m in ("crop", "context")}
times = {m: float(open(f"{tmp}/{m}.time").read()) for m in rows}
key = lambda r: (r["frame"], r["face"])
crop = {key(r): r for r in rows["crop"]}
diffs = [r["jnd_qp"] - crop[key(r)]["jnd_qp"] for r in rows["context"] if key(r) in crop]
n = len(diffs)
print(f"clip {clip}, {codec}, {n} faces")
for m in ("crop", "context"):
    enc = sum(r["encodes"] for r in rows[m]) / max(1, len(rows[m]))
    print(f"{m:8s}: {times[m] / max(1, len(rows[m])):.2f} s per face (including detection and model loading), {enc:.1f} encodes per face")
if n:
    print(f"context - crop JND QP: mean {sum(diffs) / n:+.2f}, mean |diff| {sum(abs(d) for d in diffs) / n:.2f}, "
          f"max |diff| {max(abs(d) for d in diffs)}, identical for {sum(1 for d in diffs if d == 0)}/{n}")
print(f"time ratio context/crop: {times['context'] / times['crop']:.2f}")
PY
