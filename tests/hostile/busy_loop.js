// Spins on the CPU without end.
let counter = 0;
for (;;) {
  counter += 1;
}
