#!/bin/sh
# Pack every personal folder into one tar.gz per trainee (./tools/archive, README "Course end"). Reads only: nothing
# is written inside HOMES_DIR, and no home is changed or deleted.
#   HOMES_DIR         the folder of the personal folders, one directory per claim (claim-<user>), mounted read-only
#   ARCHIVE_DIR       a new folder for this run's archives; its parent must exist and lie outside HOMES_DIR
#   ARCHIVE_LOCATION  how the printed locations start (default ARCHIVE_DIR), e.g. archives/RUN on the export
#   UPLOAD_TO         optional gs://BUCKET/PREFIX: each archive is uploaded there (gcloud storage cp), then its
#                     local copy removed, so that ARCHIVE_DIR holds one archive at a time
#   TRAINEES          optional lines "DIRECTORY<tab>NAME": the trainee of a folder, from its claim; a folder without
#                     one is named after its directory without "claim-"
# An archive is DIRECTORY's whole content under a top folder named after the trainee, files with their modes, times
# and numeric owners, in name order and gzip'ed without a time stamp: the same folder always gives the same bytes.
# Nothing is left out but sockets, which tar cannot store (and which hold no data). An empty folder is skipped with a
# note. A folder that cannot be packed (an unreadable file, a file changed while read) leaves no archive behind; the
# others are still packed, and the script exits 1 naming every folder that failed.
set -eu
: "${HOMES_DIR:?}" "${ARCHIVE_DIR:?}"
ARCHIVE_LOCATION="${ARCHIVE_LOCATION:-$ARCHIVE_DIR}"
UPLOAD_TO="${UPLOAD_TO:-}"
TRAINEES="${TRAINEES:-}"
# Byte order for the folder list and tar's member order, whatever the locale.
export LC_ALL=C
tab=$(printf '\t')

trainee_of() {  # DIRECTORY: the name its archive is called after
    while IFS="$tab" read -r directory name; do
        if [ "$directory" = "$1" ] && [ -n "$name" ]; then
            printf '%s\n' "$name"
            return
        fi
    done <<LIST
$TRAINEES
LIST
    printf '%s\n' "${1#claim-}"
}

usable() {  # NAME: a file name of its own (JupyterHub refuses "/" and names of only dots in user names anyway)
    case "$1" in
        "" | . | .. | */*) return 1 ;;
    esac
}

parent=$(dirname "$ARCHIVE_DIR")
homes_real=$(cd "$HOMES_DIR" && pwd -P)
parent_real=$(cd "$parent" && pwd -P)
case "$parent_real/" in
    "$homes_real"/*)
        echo "error: ARCHIVE_DIR $ARCHIVE_DIR is inside HOMES_DIR $HOMES_DIR, where nothing is written" >&2
        exit 2
        ;;
esac
# A new folder per run: an archive is never overwritten.
mkdir "$ARCHIVE_DIR"

archived=0
empty=0
failures=0
failed=""
used="$tab"
for home in "$HOMES_DIR"/* "$HOMES_DIR"/.[!.]* "$HOMES_DIR"/..?*; do
    # Unmatched patterns stay as they are; symbolic links are no personal folders.
    [ -d "$home" ] && [ ! -L "$home" ] || continue
    directory=${home##*/}
    if ! entries=$(ls -A "$home"); then
        echo "error: $directory: cannot list its content" >&2
        failed="$failed $directory"
        failures=$((failures + 1))
        continue
    fi
    if [ -z "$entries" ]; then
        echo "$directory: empty, no archive"
        empty=$((empty + 1))
        continue
    fi
    name=$(trainee_of "$directory")
    usable "$name" || name=$directory
    case "$used" in
        *"$tab$name$tab"*)
            echo "error: $directory: another folder's archive is already called $name.tar.gz" >&2
            failed="$failed $directory"
            failures=$((failures + 1))
            continue
            ;;
    esac
    used="$used$name$tab"
    file="$name.tar.gz"
    # tar's --transform is sed's s command: escape what its replacement treats specially.
    top=$(printf '%s' "$name" | sed 's/[\\&|]/\\&/g')
    partial="$ARCHIVE_DIR/.$file.partial"
    # Member names start "./", which becomes the trainee's folder; symbolic links' targets stay as they are (S).
    if ! tar --create --file="$partial" --directory="$home" --format=gnu --sort=name --numeric-owner \
            --transform="s|^\\.|$top|S" --use-compress-program="gzip -n" . ; then
        rm -f "$partial"
        echo "error: $directory: could not be packed (tar says why above)" >&2
        failed="$failed $directory"
        failures=$((failures + 1))
        continue
    fi
    size=$(stat -c %s "$partial")
    if [ -n "$UPLOAD_TO" ]; then
        if ! gcloud storage cp --quiet "$partial" "$UPLOAD_TO/$file"; then
            rm -f "$partial"
            echo "error: $directory: could not upload $UPLOAD_TO/$file" >&2
            failed="$failed $directory"
            failures=$((failures + 1))
            continue
        fi
        rm -f "$partial"
        location="$UPLOAD_TO/$file"
    else
        mv "$partial" "$ARCHIVE_DIR/$file"
        location="$ARCHIVE_LOCATION/$file"
    fi
    echo "$directory: $location ($size bytes)"
    archived=$((archived + 1))
done

echo "$archived archived, $empty empty, $failures failed"
if [ "$failures" -gt 0 ]; then
    echo "error: could not archive:$failed" >&2
    exit 1
fi
