// The preprocessor reads an endless, non-regular file as source until memory runs out.
#include "/dev/zero"

int main(void) { return 0; }
