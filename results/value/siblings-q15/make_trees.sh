#!/bin/sh
# The 1.5B writer's own trees on the training premises (HANNA premises 0..31; evals read 32..95),
# for sibling pairs read blind (issue #44). The writer preset, searched wider and longer than a
# story needs so that each tree holds many sibling groups at every depth:
# 8 simulations x 5 children, 2 leaves a round (10 rows a decode call).
# Usage, from the repository root: sh results/value/siblings-q15/make_trees.sh FIRST LAST [DRAW]
# The seed is the premise index; DRAW (default 0) adds 100 x DRAW to it and writes runs/pNN-dDRAW,
# a second tree of the same premise (the 32 training premises alone give ~2,700 pairs).
set -e
first=${1:-0}; last=${2:-31}; draw=${3:-0}
out=results/value/siblings-q15/runs
mkdir -p "$out"
i=$first
while [ "$i" -le "$last" ]; do
  dir=$(printf '%s/p%02d' "$out" "$i")
  [ "$draw" -gt 0 ] && dir="$dir-d$draw"
  if [ -f "$dir/story.md" ]; then i=$((i + 1)); continue; fi
  rm -rf "$dir"
  .venv/bin/storyspace explore --config writer --premise-index "$i" --seed $((i + 100 * draw)) \
      --simulations 8 --children 5 --parallel-leaves 2 --quiet --out "$dir"
  i=$((i + 1))
done
