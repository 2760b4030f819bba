# The shell classic: a function that pipes itself into itself, in the background. Its
# complaints (fork: retry) are silenced so that only the process limit is tested.
exec 2>/dev/null
bomb() { bomb | bomb & }
bomb
while :; do sleep 1; done
