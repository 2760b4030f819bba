# Spins on the CPU without end.
counter = 0
while True:
    counter += 1
