#!/bin/sh
# Create the teams' folders (hub.groups) in the groups folder at the top of the NFS export. Idempotent, and never
# deletes: a team dropped from the configuration keeps its folder, which only the trainers' view still mounts.
#   groups          rwxr-xr-x GROUPS_OWNER     (root) a team's folder is renamed or removed only as root, so a
#                                              trainer's view of all of them cannot break a team's mount
#   groups/<team>   rwxrwsr-x USER_UID:USER_GID every member writes; new files keep the group
set -eu
: "${EXPORT_DIR:?}" "${GROUPS_FOLDER:?}" "${GROUPS_OWNER:?}" "${TEAM_FOLDERS:?}" "${USER_UID:?}" "${USER_GID:?}"

prepare() {
    mkdir -p "$1"
    if [ "$(stat -c %u:%g "$1")" != "$2" ]; then
        chown "$2" "$1"
    fi
    if [ "$(stat -c %a "$1")" != "$3" ]; then
        chmod "$3" "$1"
    fi
    echo "$1: $(stat -c '%A %u:%g' "$1")"
}

prepare "$EXPORT_DIR/$GROUPS_FOLDER" "$GROUPS_OWNER" 755
count=0
for team in $TEAM_FOLDERS; do
    prepare "$EXPORT_DIR/$GROUPS_FOLDER/$team" "$USER_UID:$USER_GID" 2775
    count=$((count + 1))
done
echo "Prepared $count team folders in $EXPORT_DIR/$GROUPS_FOLDER"
