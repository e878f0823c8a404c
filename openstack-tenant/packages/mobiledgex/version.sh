#!/bin/sh
#
# Write version/package-version.go, which tells the platform code which
# mobiledgex package version (= base image version) it was built with.
#
#   ./version.sh <version> [<output file>]
#
# The output is already in gofmt form.  The file is only rewritten when its
# content changes.

set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ -z "$1" ]; then
	echo "usage: $(basename "$0") <version> [<output file>]" >&2
	exit 1
fi

VERSION=$1
case "$VERSION" in
*[!0-9A-Za-z.+~-]*)
	echo "$(basename "$0"): not a package version: $VERSION" >&2
	exit 1
	;;
esac

OUT=${2:-$(dirname "$0")/../../../version/package-version.go}
mkdir -p "$(dirname "$OUT")"

OUT_TMP=$(mktemp "${OUT}.XXXXXX")
trap 'rm -f "$OUT_TMP"' EXIT

printf 'package version\n\nvar MobiledgeXPackageVersion = "%s"\n' "$VERSION" >"$OUT_TMP"

if [ -f "$OUT" ] && cmp -s "$OUT_TMP" "$OUT"; then
	echo "$OUT is up to date ($VERSION)"
else
	chmod 0644 "$OUT_TMP"
	mv -f "$OUT_TMP" "$OUT"
	echo "Wrote $OUT ($VERSION)"
fi
