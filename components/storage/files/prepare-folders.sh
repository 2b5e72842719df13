#!/bin/sh
# Create the public, shared and home folders at the top of the NFS export, owned by the notebook user.
# Idempotent: an existing folder keeps its content, and its owner and mode are only set when they differ.
#   public  rwxr-xr-x        trainees read it (their mount is read-only); datasets are copied in as root
#   shared  rwxrwsr-x        every trainee (uid USER_UID, gid USER_GID) writes; new files keep the group
#   home    rwxr-xr-x        the provisioner (root on the export) creates one folder per trainee in it
set -eu
: "${EXPORT_DIR:?}" "${PUBLIC_FOLDER:?}" "${SHARED_FOLDER:?}" "${HOME_FOLDER:?}" "${USER_UID:?}" "${USER_GID:?}"

prepare() {
    folder="$EXPORT_DIR/$1"
    mkdir -p "$folder"
    if [ "$(stat -c %u:%g "$folder")" != "$USER_UID:$USER_GID" ]; then
        chown "$USER_UID:$USER_GID" "$folder"
    fi
    if [ "$(stat -c %a "$folder")" != "$2" ]; then
        chmod "$2" "$folder"
    fi
    echo "$folder: $(stat -c '%A %u:%g' "$folder")"
}

prepare "$PUBLIC_FOLDER" 755
prepare "$SHARED_FOLDER" 2775
prepare "$HOME_FOLDER" 755
