// The file includes itself twice at every level, 40 levels deep: 2^40 inclusions of
// nothing: the preprocessor burns CPU time for ever while its memory grows slowly.
#if __INCLUDE_LEVEL__ < 40
#include __FILE__
#include __FILE__
#endif
#if __INCLUDE_LEVEL__ == 0
int main(void) { return 0; }
#endif
