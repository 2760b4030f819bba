# Leaves something behind in every writable place for the next task to find: plain and
# hidden files, a FIFO, a directory its owner cannot enter, deep nesting, a symlink out,
# and the places themselves left without any permission. $1 marks the names.
for dir in $(printf '%s\n' /work /tmp /var/tmp /dev/shm "$HOME" | sort -u); do
  echo planted >"$dir/planted-$1"
  echo planted >"$dir/.hidden-$1"
  mkfifo "$dir/fifo-$1"
  mkdir -p "$dir/locked-$1/inner" && echo planted >"$dir/locked-$1/inner/file"
  chmod 000 "$dir/locked-$1/inner" "$dir/locked-$1"
  deep="$dir/deep-$1"
  for _ in $(seq 1 100); do deep="$deep/d"; done
  mkdir -p "$deep" && echo planted >"$deep/file"
  ln -s /etc/passwd "$dir/link-$1"
done
chmod 000 /work /tmp /var/tmp /dev/shm
echo planted
