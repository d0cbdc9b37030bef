#!/bin/sh
# The image's entrypoint: `analyze` as the owner of the working folder, never as root.
#
# `docker run -v "$PWD:/work" analyzer recommend --env staging` mounts a host user's folder at
# /work: run as that folder's owner, what the analyzer writes there (the lake, history,
# exports) is the host user's, and a folder only they may write is writable. Where the folder
# is root's (nothing mounted: /work as built, a Cloud Run job) it runs as the image's own user,
# 10001. Started with --user (not root), it runs as it was started.
set -eu
if [ "$(id -u)" != 0 ]; then
    exec analyze "$@"
fi
uid=$(stat -c %u .)
gid=$(stat -c %g .)
if [ "$uid" = 0 ]; then
    uid=10001
    gid=10001
fi
if [ "$uid" = 10001 ]; then
    export HOME=/home/analyzer
else
    export HOME=/tmp  # a host user has no home in the image; caches go to /tmp
fi
exec setpriv --reuid="$uid" --regid="$gid" --clear-groups analyze "$@"
