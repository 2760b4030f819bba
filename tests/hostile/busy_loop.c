// Spins on the CPU without end.
int main(void) {
  volatile unsigned long counter = 0;
  for (;;) {
    ++counter;
  }
}
