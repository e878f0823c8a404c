#!/bin/bash
#
# Build a Debian package from the current folder and optionally publish it
# to Artifactory.
#
#   ../build.sh <pkgname> <version> <distribution> <component>
#
# Run from a package folder (see mobiledgex/Makefile) which holds:
#   <pkgname>_<version>/   the files of the package, laid out as installed
#   description            first line: synopsis; more lines: long description
#   dependencies           optional; one "name constraint" a line, "#" comments
#   preinst postinst prerm postrm
#                          optional maintainer scripts
#
# Publishing asks "Publish to Artifactory? (yN)" when standard input is a
# terminal; otherwise the answer is "no" unless PUBLISH=yes is set in the
# environment (PUBLISH=no never asks).  Credentials ("user:password") come
# from the first line of ~/.artifactory.creds, or are prompted for; they are
# handed to curl on its standard input, never on its command line.

set -euo pipefail

: "${SECTION:=misc}"
: "${PRIORITY:=optional}"
: "${ARCH:=amd64}"
: "${ARTIFACTORY:=https://artifactory.mobiledgex.net/artifactory}"
: "${PUBLISH:=}"

MAINTAINER='MobiledgeX'
MAINTAINER_EMAIL='mobiledgex.ops@mobiledgex.com'
ARTIFACTORY_REPO='packages'
ARTIFACTORY_CREDS_FILE="${HOME}/.artifactory.creds"
DESC_FILE='description'
DEPS_FILE='dependencies'
MAINTAINER_SCRIPTS='preinst postinst prerm postrm'

die() {
	echo "$(basename "$0"): $*" >&2
	exit 1
}

if [[ $# -ne 4 ]]; then
	echo "usage: $(basename "$0") <pkgname> <version> <distribution> <component>" >&2
	exit 1
fi

PKGNAME="$1"
VERSION="$2"
DISTRIB="$3"
COMPONENT="$4"

PKGDIR="${PKGNAME}_${VERSION}"
DEBDIR="${PKGDIR}/DEBIAN"
CTRLFILE="${DEBDIR}/control"
DEBFILE="${PKGNAME}_${VERSION}_${ARCH}.deb"

[[ -d "$PKGDIR" ]] || die "package folder not found: $PKGDIR"
[[ -s "$DESC_FILE" ]] || die "package description not found: $DESC_FILE"

# "kubeadm   =1.18.20-00" -> "kubeadm (= 1.18.20-00)"
DEPENDS=''
if [[ -f "$DEPS_FILE" ]]; then
	CONSTRAINT_RE='^(<<|<=|=|>=|>>)([^[:space:]]+)$'
	LINENO_DEPS=0
	while IFS= read -r LINE || [[ -n "$LINE" ]]; do
		LINENO_DEPS=$(( LINENO_DEPS + 1 ))
		LINE="${LINE%$'\r'}"
		read -r NAME CONSTRAINT EXTRA <<<"$LINE" || true
		[[ -z "${NAME:-}" || "$NAME" == \#* ]] && continue
		[[ -z "${EXTRA:-}" ]] \
			|| die "${DEPS_FILE}:${LINENO_DEPS}: expected \"name constraint\", got: $LINE"
		if [[ -z "${CONSTRAINT:-}" ]]; then
			DEP="$NAME"
		elif [[ "$CONSTRAINT" =~ $CONSTRAINT_RE ]]; then
			DEP="$NAME (${BASH_REMATCH[1]} ${BASH_REMATCH[2]})"
		else
			die "${DEPS_FILE}:${LINENO_DEPS}: bad version constraint: $CONSTRAINT"
		fi
		DEPENDS="${DEPENDS:+${DEPENDS}, }${DEP}"
	done <"$DEPS_FILE"
fi

# Description: the first line is the synopsis; every further line is
# indented by exactly one space, and blank lines become " ."
DESCRIPTION=$(tr -d '\r' <"$DESC_FILE" \
	| sed -e '1!s/^[[:space:]]*//' -e '1!s/^$/./' -e '1!s/^/ /')

mkdir -p "$DEBDIR"
chmod 0755 "$DEBDIR"
{
	echo "Package: $PKGNAME"
	echo "Version: $VERSION"
	echo "Section: $SECTION"
	echo "Priority: $PRIORITY"
	echo "Architecture: $ARCH"
	[[ -n "$DEPENDS" ]] && echo "Depends: $DEPENDS"
	echo "Maintainer: $MAINTAINER <$MAINTAINER_EMAIL>"
	echo "Description: $DESCRIPTION"
} >"$CTRLFILE"
chmod 0644 "$CTRLFILE"

for SCRIPT in $MAINTAINER_SCRIPTS; do
	if [[ -f "$SCRIPT" ]]; then
		echo "Installing $SCRIPT script"
		cp "$SCRIPT" "${DEBDIR}/${SCRIPT}"
		chmod 0755 "${DEBDIR}/${SCRIPT}"
	fi
done

BUILD_OPTS=()
if dpkg-deb --help 2>/dev/null | grep -q -- '--root-owner-group'; then
	BUILD_OPTS+=( --root-owner-group )
fi
dpkg-deb ${BUILD_OPTS[@]+"${BUILD_OPTS[@]}"} --build "$PKGDIR" "$DEBFILE"
dpkg-deb --info "$DEBFILE"
echo

case "$PUBLISH" in
	yes)	RESP=y ;;
	no)	RESP=n ;;
	*)
		if [[ -t 0 ]]; then
			read -r -p "Publish to Artifactory? (yN) " RESP || RESP=''
		else
			echo "Publish to Artifactory? (yN) standard input is not a terminal: no"
			RESP=n
		fi
		;;
esac
case "$RESP" in
	y*|Y*)	;;
	*)	echo "Package NOT published to Artifactory: $DEBFILE"; exit 0 ;;
esac

ARTIFACTORY_CREDS=''
if [[ -f "$ARTIFACTORY_CREDS_FILE" ]]; then
	IFS= read -r ARTIFACTORY_CREDS <"$ARTIFACTORY_CREDS_FILE" || true
	ARTIFACTORY_CREDS="${ARTIFACTORY_CREDS%$'\r'}"
fi
if [[ -z "$ARTIFACTORY_CREDS" ]]; then
	[[ -t 0 ]] || die "no credentials in $ARTIFACTORY_CREDS_FILE and no terminal to ask for them"
	read -r -p "Artifactory user: " ARTF_USER
	read -r -s -p "Artifactory password: " ARTF_PASS
	echo
	ARTIFACTORY_CREDS="${ARTF_USER}:${ARTF_PASS}"
	unset ARTF_PASS
fi
[[ "$ARTIFACTORY_CREDS" == *:* ]] || die "Artifactory credentials must be \"user:password\""

# A curl config line carrying the credentials, read by "curl -K -" from its
# standard input (printf is a shell builtin: no process shows them).
curl_auth_config() {
	local creds="${ARTIFACTORY_CREDS//\\/\\\\}"
	creds="${creds//\"/\\\"}"
	printf 'user = "%s"\n' "$creds"
}

checksum() {
	local algo="$1" file="$2"
	if command -v "${algo}sum" >/dev/null 2>&1; then
		"${algo}sum" "$file" | awk '{print $1}'
	else
		openssl dgst "-${algo}" -r "$file" | awk '{print $1}'
	fi
}

ARTF_PKG_URL="${ARTIFACTORY}/${ARTIFACTORY_REPO}/pool/${DEBFILE}"

echo
echo "Checking whether the package is already present in Artifactory..."
HTTP_CODE=$(curl_auth_config \
	| curl -sS -K - -I -o /dev/null -w '%{http_code}' "$ARTF_PKG_URL") \
	|| die "unable to reach Artifactory: $ARTF_PKG_URL"
case "$HTTP_CODE" in
	200)
		echo "Package already present in Artifactory: $ARTF_PKG_URL" >&2
		echo "Raise VERSION in the Makefile, or delete the package from packages/pool first." >&2
		exit 2
		;;
	404)	;;
	*)	die "unexpected HTTP status $HTTP_CODE from $ARTF_PKG_URL" ;;
esac

echo
echo "Publishing to Artifactory: $ARTF_PKG_URL ..."
MD5SUM=$(checksum md5 "$DEBFILE")
SHA1SUM=$(checksum sha1 "$DEBFILE")
curl_auth_config \
	| curl -sS -f -K - -X PUT \
		-H "X-Checksum-MD5: $MD5SUM" \
		-H "X-Checksum-Sha1: $SHA1SUM" \
		-T "$DEBFILE" \
		"${ARTF_PKG_URL};deb.distribution=${DISTRIB};deb.component=${COMPONENT};deb.architecture=${ARCH}"
echo
echo "Published $DEBFILE to Artifactory"
