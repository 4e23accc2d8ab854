#!/bin/sh
set -e
# Like many official images: a first argument that is an option goes to the default program.
if [ "${1#-}" != "$1" ]; then
    set -- greet "$@"
fi
echo "entrypoint: starting $1" >&2
exec "$@"
