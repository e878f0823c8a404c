#!/bin/bash
#
# Build the MobiledgeX base VM image in openstack with packer.
#
# The image is an Ubuntu 18.04 cloud image with the mobiledgex package (see
# ../packages/mobiledgex) installed from the APT snapshot below.  Build and
# publish the package first; the image tag is the package version.

set -euo pipefail

ARTIFACTORY_BASEURL='https://artifactory.mobiledgex.net/artifactory'
ARTIFACTORY_USER='packer'
ARTIFACTORY_ARTIFACTS_TAG='2021-10-05'
CLOUD_IMAGE='ubuntu-18.04-server-cloudimg-amd64.img'
OUTPUT_IMAGE_NAME='mobiledgex'
NETWORK_NAME='external-network-shared'
VAULT_PATH='secret/accounts/baseimage'
CHEF_UPDATE_GUIDE='https://mobiledgex.atlassian.net/wiki/spaces/SWDEV/pages/329384023/How+to+create+a+new+MobiledgeX+OS+base+image#chef'

APT_REPO="https://apt.mobiledgex.net/cirrus/2021-02-01"

CLOUD_IMAGE_TAG="${CLOUD_IMAGE_TAG:-ubuntu-18.04-server-cloudimg-amd64-2021-10-05}"
: "${VAULT:=vault-main.mobiledgex.net}"
: "${FLAVOR:=m4.small}"
: "${PLATFORM:=openstack}"
: "${FORCE:=no}"
: "${TRACE:=no}"
: "${DEBUG:=false}"

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
CHEF_DIR="$(cd "${SCRIPT_DIR}/../.." && pwd)/chef"
PACKAGE_MAKEFILE="${SCRIPT_DIR}/../packages/mobiledgex/Makefile"
TEMPLATE='packer_template.mobiledgex.json'

# The tag defaults to the mobiledgex package version
TAG="${TAG:-$(awk '$1 == "VERSION" && $2 == "=" { print $3; exit }' "$PACKAGE_MAKEFILE" 2>/dev/null || true)}"
OUTPUT_TAG="${OUTPUT_TAG:-}"
GITTAG=$(git -C "$SCRIPT_DIR" describe --tags --always 2>/dev/null || echo unknown)

USAGE="usage: $( basename "$0" ) <options>

 -d               Run packer in debug mode
 -f <flavor>      Image flavor (default: \"$FLAVOR\")
 -i <image-tag>   Glance source image tag (default: \"$CLOUD_IMAGE_TAG\")
 -o <output-tag>  Output image tag (default: \"v\" + tag below)
 -p <platform>    Platform: openstack, vcd or vsphere (default: \"$PLATFORM\")
 -t <tag>         Image tag, the mobiledgex package version (default: \"$TAG\")
 -F               Ignore source image checksum mismatch
 -T               Print trace debug messages during build
 -u <artf-user>   Build as this Artifactory user (default: \"$ARTIFACTORY_USER\")

 -h               Display this help message
"

die() {
	echo "ERROR: $*" >&2
	exit 2
}

# Ask a yes/no question; anything but y/Y (including end of input) is no.
confirm() {
	local resp=''
	printf '%s (yN) ' "$1" >&2
	read -r resp || true
	case "$resp" in
		y*|Y*)	return 0 ;;
		*)	return 1 ;;
	esac
}

while getopts ":dhf:i:o:p:t:FTu:" OPT; do
	case "$OPT" in
	d) DEBUG=true ;;
	h) echo "$USAGE"; exit 0 ;;
	f) FLAVOR="$OPTARG" ;;
	i) CLOUD_IMAGE_TAG="$OPTARG" ;;
	o) OUTPUT_TAG="$OPTARG" ;;
	p) PLATFORM="$OPTARG" ;;
	t) TAG="$OPTARG" ;;
	F) FORCE=yes ;;
	T) TRACE=yes ;;
	u) ARTIFACTORY_USER="$OPTARG" ;;
	:) echo "Option -$OPTARG needs an argument" >&2; echo "$USAGE" >&2; exit 2 ;;
	*) echo "Unknown option: -$OPTARG" >&2; echo "$USAGE" >&2; exit 2 ;;
	esac
done
shift $(( OPTIND - 1 ))
[[ $# -eq 0 ]] || die "Unexpected arguments: $*"

TAG="${TAG#v}"
[[ -n "$TAG" ]] || die "No image tag; pass -t <tag>"
PACKAGE_VERSION="$TAG"

case "$PLATFORM" in
	openstack)	;;
	vcd|vsphere)	TAG="${TAG}-${PLATFORM}" ;;
	*)		die "Unknown platform: $PLATFORM (expected openstack, vcd or vsphere)" ;;
esac

[[ -z "$OUTPUT_TAG" ]] && OUTPUT_TAG="v$TAG"
OUTPUT_IMAGE_NAME="${OUTPUT_IMAGE_NAME}-${OUTPUT_TAG}"

# Chef upgrades the mobiledgex package of running VMs from the same APT
# snapshot: make sure it has been updated along with this build.
check_chef() {
	local what="$1" pattern="$2"
	if ! grep -rqiE --include='*.rb' -- "$pattern" "$CHEF_DIR" 2>/dev/null; then
		echo
		echo "$what for this build not found in chef"
		echo "    Chef folder: $CHEF_DIR"
		echo
		if ! confirm "Are you sure you want to continue?"; then
			echo
			echo "Check Confluence for instructions on updating chef:"
			echo "  $CHEF_UPDATE_GUIDE"
			exit 2
		fi
	fi
}
check_chef "APT repo \"$APT_REPO\"" "['\"]${APT_REPO//./\\.}['\"]"
check_chef "mobiledgex package version \"$PACKAGE_VERSION\"" \
	"mobiledgexpackageversion['\"]?\]?[[:space:]]*=[[:space:]]*['\"]${PACKAGE_VERSION//./\\.}['\"]"

echo "TOOL VERSIONS:"; echo
for TOOL in jq openstack packer vault; do
	command -v "$TOOL" >/dev/null 2>&1 || die "Required tool not found: $TOOL"
done
echo "  jq: $(jq --version 2>&1)"
echo "  openstack: $(openstack --version 2>&1 | awk '{print $NF}')"
echo "  packer: $(packer --version 2>&1)"
echo "  vault: $(vault version 2>&1 | awk '{print $2}')"
echo

ARTIFACTORY_APIKEY_FILE="${HOME}/.mobiledgex/artifactory.apikey"
ARTIFACTORY_APIKEY=''
if [[ -f "$ARTIFACTORY_APIKEY_FILE" ]]; then
	IFS= read -r ARTIFACTORY_APIKEY <"$ARTIFACTORY_APIKEY_FILE" || true
else
	read -r -s -p "Artifactory password/api-key for $ARTIFACTORY_USER: " ARTIFACTORY_APIKEY || true
	echo
fi
[[ -n "$ARTIFACTORY_APIKEY" ]] || die "No Artifactory API key"

# Credentials go to curl on its standard input, never on its command line
curl_auth_config() {
	local creds="${ARTIFACTORY_USER}:${ARTIFACTORY_APIKEY}"
	creds="${creds//\\/\\\\}"
	creds="${creds//\"/\\\"}"
	printf 'user = "%s"\n' "$creds"
}

ARTIFACTORY_CLOUD_IMAGE_PATH="baseimage-build/${ARTIFACTORY_ARTIFACTS_TAG}/${CLOUD_IMAGE}"
ARTIFACTORY_CLOUD_IMAGE_CHECKSUM=$(curl_auth_config \
	| curl -sSLf -K - "${ARTIFACTORY_BASEURL}/api/storage/${ARTIFACTORY_CLOUD_IMAGE_PATH}" \
	| jq -er '.checksums.md5') \
	|| die "Failed to retrieve cloud image checksum from artifactory: TAG=$ARTIFACTORY_ARTIFACTS_TAG"

SRC_IMG=$(openstack image list -c ID -c Name -f value \
	| awk -v name="$CLOUD_IMAGE_TAG" '$2 == name { print $1; exit }') \
	|| die "Unable to list openstack images; openrc not sourced?"
[[ -n "$SRC_IMG" ]] || die "Unable to locate source image in glance: $CLOUD_IMAGE_TAG"

SRC_IMG_CHECKSUM=$(openstack image show -c checksum -f value "$SRC_IMG")
if [[ "$SRC_IMG_CHECKSUM" != "$ARTIFACTORY_CLOUD_IMAGE_CHECKSUM" ]]; then
	if [[ "$FORCE" == yes ]]; then
		echo "Ignoring checksum mismatch of image in glance: $CLOUD_IMAGE_TAG" >&2
	else
		die "Cloud image checksum does not match image in glance: $CLOUD_IMAGE_TAG"
	fi
fi

NETWORK=$(openstack network list -c ID -c Name -f value \
	| awk -v name="$NETWORK_NAME" '$2 == name { print $1; exit }') \
	|| die "Unable to list openstack networks"
[[ -n "$NETWORK" ]] || die "Unable to locate openstack network: $NETWORK_NAME"

cat <<EOT
BUILD PARAMETERS:

  Source Image UUID: $SRC_IMG ("$CLOUD_IMAGE_TAG")
       Network UUID: $NETWORK
     New Image Name: $OUTPUT_IMAGE_NAME
           Platform: $PLATFORM
 mobiledgex package: $PACKAGE_VERSION
           APT repo: $APT_REPO
             Flavor: $FLAVOR
   Artifactory User: $ARTIFACTORY_USER

EOT

if ! confirm "Build?"; then
	echo "Aborting build..."
	exit 1
fi

export VAULT_ADDR="https://${VAULT}"
if ! vault token lookup >/dev/null 2>&1; then
	echo "Logging in to $VAULT_ADDR"
	vault login -method=github || die "Failed to log in to vault: $VAULT_ADDR"
	echo
fi

ROOT_PASS=$(vault kv get -field=value "${VAULT_PATH}/password") || ROOT_PASS=''
GRUB_PW_HASH=$(vault kv get -field=grub_pw_hash "${VAULT_PATH}/password") || GRUB_PW_HASH=''
TOTP_KEY=$(vault kv get -field=value "${VAULT_PATH}/totp-key") || TOTP_KEY=''
if [[ -z "$ROOT_PASS" || -z "$GRUB_PW_HASH" || -z "$TOTP_KEY" ]]; then
	die "Unable to read vault secrets: ${VAULT} ${VAULT_PATH}"
fi

# Secrets reach packer through a private var file, not its command line
umask 077
SECRETS_FILE=$(mktemp "${TMPDIR:-/tmp}/packer-secrets.XXXXXX")
trap 'rm -f "$SECRETS_FILE"' EXIT
trap 'exit 130' INT TERM
MEX_ARTIFACTORY_APIKEY="$ARTIFACTORY_APIKEY" \
MEX_ROOT_PASS="$ROOT_PASS" \
MEX_GRUB_PW_HASH="$GRUB_PW_HASH" \
MEX_TOTP_KEY="$TOTP_KEY" \
jq -n '{
	ARTIFACTORY_APIKEY: env.MEX_ARTIFACTORY_APIKEY,
	ROOT_PASS: env.MEX_ROOT_PASS,
	GRUB_PW_HASH: env.MEX_GRUB_PW_HASH,
	TOTP_KEY: env.MEX_TOTP_KEY
}' >"$SECRETS_FILE"
unset ROOT_PASS GRUB_PW_HASH TOTP_KEY

PACKER_OPTS=( -on-error=ask )
$DEBUG && PACKER_OPTS+=( -debug )

cd "$SCRIPT_DIR"
if ! PACKER_LOG=1 packer build "${PACKER_OPTS[@]}" \
	-var-file="$SECRETS_FILE" \
	-var "OUTPUT_IMAGE_NAME=$OUTPUT_IMAGE_NAME" \
	-var "SRC_IMG=$SRC_IMG" \
	-var "SRC_IMG_CHECKSUM=$SRC_IMG_CHECKSUM" \
	-var "NETWORK=$NETWORK" \
	-var "FLAVOR=$FLAVOR" \
	-var "ARTIFACTORY_USER=$ARTIFACTORY_USER" \
	-var "ARTIFACTORY_ARTIFACTS_TAG=$ARTIFACTORY_ARTIFACTS_TAG" \
	-var "APT_REPO=$APT_REPO" \
	-var "PACKAGE_VERSION=$PACKAGE_VERSION" \
	-var "OUTPUT_PLATFORM=$PLATFORM" \
	-var "TAG=$TAG" \
	-var "GITTAG=$GITTAG" \
	-var "VAULT=$VAULT" \
	-var "TRACE=$TRACE" \
	"$TEMPLATE"
then
	echo "Failed to build base image!" >&2
	exit 2
fi

cat <<EOT

IMPORTANT FOLLOW-UP TASKS

- Compress and upload the image to Artifactory:
  https://nightly.mobiledgex.net/job/upload-baseimage/parambuild/?OPENSTACK_INSTANCE=&BASE_IMAGE_NAME=${OUTPUT_IMAGE_NAME}

- Update and push the chef policy for the mobiledgex package upgrade:
  $CHEF_UPDATE_GUIDE

EOT
