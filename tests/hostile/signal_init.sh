# Signals every process it can see, PID 1 (bwrap's init, the sandbox's reaper) first:
# stop, terminate, kill. Whatever it manages, it may only ever harm its own task.
for signal in STOP CONT TERM HUP INT SEGV KILL; do
  kill -s "$signal" 1 2>/dev/null && echo "sent $signal to 1"
done
for entry in /proc/[0-9]*; do
  pid=${entry#/proc/}
  if [ "$pid" != $$ ] && [ "$pid" != 1 ]; then
    kill -s TERM "$pid" 2>/dev/null && echo "sent TERM to $pid"
  fi
done
echo "still here"
