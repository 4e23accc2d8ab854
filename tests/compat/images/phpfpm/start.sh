#!/bin/sh
# php-fpm daemonises (its master stays a child of PID 1); nginx runs in the foreground.
set -e
php-fpm8.2 --daemonize
exec nginx -g 'daemon off;'
