#!/usr/bin/env bash
# Fingerprints of what stemgen produces, for proving a refactor changes no behaviour:
#   scripts/behaviour_fingerprint.sh OUT_DIR      (run on the old and the new tree, then diff OUT/hashes.txt
#                                                  and compare OUT/midi_eval.json's "table")
# Arranger (3 stems, fixed seed) and diffusion (4 steps, fixed seed) on the first 20 s of a bundled
# CC BY mix, `stemgen midi generate` on one band song, and `stemgen midi eval --split test`.
set -euo pipefail
OUT=$(realpath -m "$1"); mkdir -p "$OUT"
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 OMP_WAIT_POLICY=PASSIVE
D=${STEMGEN_SHARED_DATA:-../shared/data}
ffmpeg -loglevel error -y -i "$D/demo_mixes/Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.ogg" -t 20 "$OUT/song.wav"
for stem in drums bass guitar; do
  .venv/bin/stemgen generate "$OUT/song.wav" --stem $stem --instruction "Add funky $stem" --seed 7 --out "$OUT/gen_$stem" --json > "$OUT/gen_$stem.json"
done
.venv/bin/stemgen generate "$OUT/song.wav" --stem drums --engine diffusion --steps 4 --seed 3 --out "$OUT/diff_drums" --json > "$OUT/diff.json"
SONG=$(ls "$D/tegridy_band_midi_nc/midi" | sed -n 1p)
.venv/bin/stemgen midi generate "$D/tegridy_band_midi_nc/midi/$SONG" --stem bass --out "$OUT/midi_gen.mid" --json > "$OUT/midi_gen.json"
.venv/bin/stemgen midi eval "$D/tegridy_band_midi_nc" --split test --json > "$OUT/midi_eval.json"
(cd "$OUT" && find . \( -name '*.wav' -o -name '*.mid' \) | sort | xargs sha256sum) > "$OUT/hashes.txt"
echo "fingerprints in $OUT/hashes.txt and $OUT/midi_eval.json"
