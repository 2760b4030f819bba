# Not an attack: the task after one. Lists every entry in the writable places (the
# task's own main.sh apart), then proves their space is free again by writing 48 MiB.
find /work /tmp /var/tmp /dev/shm "$HOME" -mindepth 1 ! -path /work/main.sh -printf 'LEFT %p\n' 2>&1
if head -c 48M /dev/zero >/tmp/space 2>/dev/null; then
  echo "space ok"
fi
rm -f /tmp/space
echo done
