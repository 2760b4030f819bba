# Leaves children that ignore every polite signal (TERM, INT, HUP, QUIT) and hold the
# task's stdout, then exits at once. $1 marks them on the host's process list.
trap '' TERM INT HUP QUIT
for _ in 1 2 3; do
  sleep "$1" &
done
echo started
