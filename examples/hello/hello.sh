echo "hello, $1, from a shielded busybox"
