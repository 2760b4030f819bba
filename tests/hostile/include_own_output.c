// The preprocessor opens its own standard output (a pipe only the executor reads) as a
// source file and waits on it for ever: a compile that uses neither CPU nor memory, so
// only the compile time limit can end it.
#include "/proc/self/fd/1"

int main(void) { return 0; }
