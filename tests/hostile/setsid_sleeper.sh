# Leaves two sleepers meant to outlive the task: one detached from everything (double
# fork + setsid), one in its own session still holding stdout. $1 and $2 mark them.
(setsid sleep "$1" </dev/null >/dev/null 2>&1 &)
(setsid sleep "$2" &)
echo started
