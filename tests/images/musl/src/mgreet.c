#include <stdio.h>
void mgreet(void) { puts("hello from a musl library"); }
