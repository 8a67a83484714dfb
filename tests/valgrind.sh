#!/usr/bin/env bash
# tests/valgrind.sh - the graft CLI's main commands under valgrind memcheck on the committed
# fixture models (issue 8): any invalid read/write, use of uninitialised memory or definite /
# indirect leak fails the run. "possibly lost" blocks are OpenMP's worker threads (libgomp keeps
# their stacks until exit) and are not counted. Usage: tests/valgrind.sh [path/to/graft]
set -euo pipefail
cd "$(dirname "$0")/.."
GRAFT=${1:-build/graft}
T=$(mktemp -d /tmp/graft-valgrind-XXXXXX)
trap 'rm -rf "$T"' EXIT
VG=(valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --track-origins=yes)
P=tests/fixtures/llava/pair-f32
n=0
run() {
    n=$((n + 1))
    echo "valgrind [$n] graft $*"
    if ! "${VG[@]}" "$GRAFT" "$@" > "$T/out.txt" 2> "$T/err.txt"; then
        cat "$T/err.txt" | tail -40
        echo "valgrind: FAILED: graft $*"
        exit 1
    fi
}
# a command that must fail cleanly (non-zero exit, no memory error: valgrind's code is 99)
run_bad() {
    n=$((n + 1))
    echo "valgrind [$n] graft $* (must fail cleanly)"
    set +e
    "${VG[@]}" "$GRAFT" "$@" > "$T/out.txt" 2> "$T/err.txt"
    rc=$?
    set -e
    if [ $rc -eq 0 ] || [ $rc -eq 99 ]; then
        tail -40 "$T/err.txt"
        echo "valgrind: FAILED (exit $rc): graft $*"
        exit 1
    fi
}

run version
run inspect $P/model.gguf
run tokenize -m $P/model.gguf -p "What is in the picture?"
run -m $P/model.gguf --mmproj $P/mmproj.gguf --pixels $P/pixels.f32 \
    -p 'USER: <image>\nWhat is this? ASSISTANT:' -n 6 --temp 0 -t 2
run -m $P/model.gguf -p "Once upon a time" -n 6 --temp 0.8 --top-k 20 -s 7 -t 1
run encode --mmproj $P/mmproj.gguf --pixels $P/pixels.f32 -o "$T/rows.f32"
run quantize $P/model.gguf "$T/q8.gguf" q8_0
run -m "$T/q8.gguf" -p "Hello" -n 4 --temp 0
if [ -d tests/fixtures/hf/llava-pair ]; then
    run convert tests/fixtures/hf/llava-pair -o "$T/conv.gguf" --mmproj-out "$T/conv-mmproj.gguf"
    run encode -m tests/fixtures/hf/llava-pair --pixels $P/pixels.f32 -o "$T/hf-rows.f32"
    run -m tests/fixtures/hf/llava-pair --prompt-ids 1,204,45,215 -n 4 --temp 0
fi
O=tests/fixtures/owl/tiny   # mPLUG-Owl: the owl_abstractor projector (Q + 1 = 9 rows)
run -m $O/model.gguf --mmproj $O/mmproj.gguf --pixels $O/pixels.f32 \
    --prompt-ids 1,153,63,163,319,259,-1,259,13,92,188,309,267,80 -n 6 --temp 0 -t 2
run world --seed 3 --n 4 -o "$T/world"
run eval -m $P/model.gguf --mmproj $P/mmproj.gguf --task yesno --data "$T/world/pope_random.jsonl" \
    --images "$T/world" -o "$T/eval" --limit 6 --image-mode resize
run eval --score-only --task yesno --data "$T/world/pope_random.jsonl" --predictions "$T/eval/predictions.jsonl"
run_bad -m /nonexistent.gguf -p hi
run_bad inspect tests/fixtures/llava/pair-f32/pixels.f32
run_bad -m $P/model.gguf --mmproj $P/mmproj.gguf --image /nonexistent.png -p '<image>'
echo "valgrind: $n commands, no memory errors, no leaks"
