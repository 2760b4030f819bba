# Not an attack: the task after one. Reads a marker from stdin (the previous task put it
# in its processes' argv) and prints SEEN with the command line of every process it can
# see that carries it, then "done". Pure bash: no helper process of its own carries it.
read -r marker
for entry in /proc/[0-9]*; do
  mapfile -d '' words <"$entry/cmdline" 2>/dev/null || continue
  for word in "${words[@]}"; do
    if [ "$word" = "$marker" ]; then
      echo "SEEN ${entry#/proc/}: ${words[*]}"
      break
    fi
  done
done
echo done
