#!/bin/sh
# Copy the datasets into the public folder. DATASETS has one line per file: URL SHA256 TARGET, where
# SHA256 is "-" when not given and TARGET is the file's path below PUBLIC_DIR.
# A file already present (with the given checksum) is skipped; a download goes to TARGET.partial and is
# moved into place only once complete and verified, so a failed run leaves nothing half-written behind.
# The first bad download or checksum stops the script with an error, which fails the Job.
set -eu
: "${DATASETS:?}" "${PUBLIC_DIR:?}"

matches() {  # FILE SHA256
    [ "$2" = "-" ] || [ "$(sha256sum "$1" | cut -d ' ' -f 1)" = "$2" ]
}

fetch() {  # URL FILE
    case "$1" in
        gs://*) gcloud storage cp "$1" "$2" ;;
        *) curl --fail --silent --show-error --location --retry 3 --output "$2" "$1" ;;
    esac
}

while read -r url sha256 target; do
    [ -n "$url" ] || continue
    file="$PUBLIC_DIR/$target"
    if [ -f "$file" ] && matches "$file" "$sha256"; then
        echo "present: $target"
        continue
    fi
    mkdir -p "$(dirname "$file")"
    rm -f "$file.partial"
    if ! fetch "$url" "$file.partial"; then
        rm -f "$file.partial"
        echo "error: could not download $url" >&2
        exit 1
    fi
    if ! matches "$file.partial" "$sha256"; then
        actual="$(sha256sum "$file.partial" | cut -d ' ' -f 1)"
        rm -f "$file.partial"
        echo "error: $url has sha256 $actual, expected $sha256" >&2
        exit 1
    fi
    chmod 644 "$file.partial"
    mv "$file.partial" "$file"
    echo "copied: $url -> $target"
done <<LIST
$DATASETS
LIST
