# Spins on the CPU without end.
while :; do :; done
