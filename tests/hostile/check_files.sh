# Not an attack: the task after one. Shows the type and content of the files it was
# given (input.txt, data/x.txt, notes.txt), which must be its own, regular files.
for file in input.txt data data/x.txt notes.txt main.sh; do
  printf '%s: %s\n' "$file" "$(stat -c %F "$file" 2>&1)"
done
printf 'content: %s|%s|%s\n' "$(cat input.txt)" "$(cat data/x.txt)" "$(cat notes.txt)"
