void mgreet(void);
int main(void) { mgreet(); return 0; }
