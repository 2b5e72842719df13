#!/bin/sh
# Check out course material from git into the public folder. MATERIALS has one line per repository:
# URL REF FOLDER KEY KNOWN_HOSTS, where REF is a tag or a full commit id (40 hexadecimal digits), FOLDER a folder of
# PUBLIC_DIR, KEY the file of an ssh deploy key and KNOWN_HOSTS a known_hosts file of its host ("-" when not given).
#
# PUBLIC_DIR/FOLDER is a symbolic link to a hidden sibling, .FOLDER.COMMIT. A new commit is checked out into
# .FOLDER.partial, renamed to .FOLDER.COMMIT, and only then the link is replaced by a rename, so trainees see the
# old tree or the new one, never half of one; then the older checkouts of FOLDER are removed. A folder already at
# its commit is left as it is. Nothing else in PUBLIC_DIR is touched. A ref that is a branch, or that the
# repository does not have, stops the script with an error naming both, which fails the Job.
# Trainees see FOLDER only: Jupyter Server lists no name that starts with "." (jupyter-server/jupyter_server v2.20.0,
# jupyter_server/services/contents/filemanager.py, _dir_model: is_file_hidden, unless allow_hidden), and follows
# the link (it skips only what is neither a link, a file nor a directory).
set -eu
: "${MATERIALS:?}" "${PUBLIC_DIR:?}"
umask 022
export GIT_TERMINAL_PROMPT=0  # a repository that wants a password fails instead of waiting for one
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fail() {
    echo "error: $*" >&2
    exit 1
}

is_commit() {  # REF: a full commit id
    [ "${#1}" -eq 40 ] && case "$1" in *[!0-9a-f]*) false ;; esac
}

use_ssh() {  # KEY KNOWN_HOSTS: how git runs ssh for this repository
    if [ "$1" = "-" ]; then
        unset GIT_SSH_COMMAND
        return
    fi
    # A copy only this user reads (ssh refuses a key of its own that others may read), ending in a newline,
    # without which OpenSSH cannot read the key ("error in libcrypto"); a value set from standard input may lack it.
    (umask 077 && cat "$1" > "$work/key")
    [ -z "$(tail -c 1 "$work/key")" ] || echo >> "$work/key"
    if [ "$2" = "-" ]; then
        # No known host key given: trust the host's key on first use, in a file that lives as long as this run.
        : > "$work/known_hosts"
        checking=accept-new
    else
        cp "$2" "$work/known_hosts"
        checking=yes
    fi
    export GIT_SSH_COMMAND="ssh -i $work/key -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=$checking -o UserKnownHostsFile=$work/known_hosts"
}

tag_commit() {  # URL TAG: the commit the tag names; fails on a branch or an unknown name
    refs="$(git ls-remote "$1")" || fail "could not list the refs of $1 (for $2)"
    tagged="" peeled="" branch=""
    while read -r id name; do
        case "$name" in
            "refs/tags/$2") tagged="$id" ;;
            "refs/tags/$2^{}") peeled="$id" ;;  # an annotated tag's commit, listed after the tag (git ls-remote)
            "refs/heads/$2") branch="$id" ;;
        esac
    done <<REFS
$refs
REFS
    [ -n "$tagged" ] || [ -z "$branch" ] || fail "$1: $2 is a branch, not a tag or a commit: pin a tag or a full commit id"
    [ -n "$tagged" ] || fail "$1 has no tag $2"
    echo "${peeled:-$tagged}"
}

check_out() {  # URL REF COMMIT DIR: prints what went wrong
    git init --quiet "$4" || return 1
    if [ "$2" = "$3" ]; then
        # Only this commit if the server gives a commit that no ref names (protocol v2 does), else every ref.
        if ! git -C "$4" fetch --quiet --depth 1 "$1" "$3" 2>/dev/null; then
            git -C "$4" fetch --quiet "$1" "+refs/heads/*:refs/remotes/origin/*" "+refs/tags/*:refs/tags/*" ||
                { echo "error: could not fetch $1 (for $2)" >&2; return 1; }
        fi
        git -C "$4" cat-file -e "$3^{commit}" 2>/dev/null || { echo "error: $1 has no commit $3" >&2; return 1; }
    else
        git -C "$4" fetch --quiet --depth 1 "$1" "refs/tags/$2" || { echo "error: could not fetch $1 (for $2)" >&2; return 1; }
    fi
    git -C "$4" -c advice.detachedHead=false checkout --quiet --detach "$3" ||
        { echo "error: could not check out $2 of $1" >&2; return 1; }
    rm -rf "$4/.git"  # the material, not its history
}

remove_old() {  # FOLDER KEEP: the checkouts of FOLDER but KEEP, and what a failed run left
    for old in "$PUBLIC_DIR/.$1."*; do
        name="${old#"$PUBLIC_DIR/.$1."}"
        if [ "$name" != "$2" ] && { is_commit "$name" || [ "$name" = partial ] || [ "$name" = link ]; }; then
            rm -rf "$old"
        fi
    done
}

while read -r url ref folder key known_hosts; do
    [ -n "$url" ] || continue
    link="$PUBLIC_DIR/$folder"
    if [ -e "$link" ] && [ ! -L "$link" ]; then
        fail "$link is not material from git: move it away, or give $url another folder"
    fi
    use_ssh "${key:--}" "${known_hosts:--}"
    if is_commit "$ref"; then
        commit="$ref"
    else
        commit="$(tag_commit "$url" "$ref" </dev/null)"
    fi
    at="$ref ($commit)"
    [ "$ref" != "$commit" ] || at="$commit"
    if [ "$(readlink "$link" || true)" = ".$folder.$commit" ] && [ -d "$PUBLIC_DIR/.$folder.$commit" ]; then
        remove_old "$folder" "$commit"
        echo "present: $folder at $at"
        continue
    fi
    partial="$PUBLIC_DIR/.$folder.partial"
    rm -rf "$partial"
    if ! check_out "$url" "$ref" "$commit" "$partial" </dev/null; then
        rm -rf "$partial"
        exit 1
    fi
    rm -rf "$PUBLIC_DIR/.$folder.$commit"
    mv "$partial" "$PUBLIC_DIR/.$folder.$commit"
    rm -f "$PUBLIC_DIR/.$folder.link"
    ln -s ".$folder.$commit" "$PUBLIC_DIR/.$folder.link"
    mv -T "$PUBLIC_DIR/.$folder.link" "$link"  # rename(2): the switch is atomic
    remove_old "$folder" "$commit"
    echo "checked out: $url at $at -> $folder"
done <<LIST
$MATERIALS
LIST
