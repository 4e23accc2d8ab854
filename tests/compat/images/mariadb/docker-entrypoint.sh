#!/bin/bash
set -e
if [ "$1" = 'mariadbd' ] && [ "$(id -u)" = '0' ]; then
    chown -R mysql:mysql /var/lib/mysql /run/mysqld
    exec gosu mysql "$BASH_SOURCE" "$@"
fi
if [ "$1" = 'mariadbd' ] && [ ! -d /var/lib/mysql/mysql ]; then
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db >/dev/null
fi
if [ "$1" = 'mariadbd' ]; then
    exec mariadbd --user=mysql --bind-address=0.0.0.0 "${@:2}"
fi
exec "$@"
