#!/bin/bash
#
# Packer provisioner, run as root on the build VM: turn a vanilla Ubuntu
# 18.04 cloud image into the MobiledgeX base image.
#
# Environment (see packer_template.mobiledgex.json): APT_REPO,
# PACKAGE_VERSION, OUTPUT_PLATFORM, TAG, ARTIFACTORY_USER,
# ARTIFACTORY_APIKEY, ROOT_PASS, GRUB_PW_HASH, TOTP_KEY, ...

PATH='/usr/sbin:/usr/bin:/sbin:/bin'; export PATH
export DEBIAN_FRONTEND=noninteractive

LOGDIR=/etc/mobiledgex
LOGFILE="${LOGDIR}/creation_log.txt"
TMPLOG=/var/tmp/creation_log.txt
MEX_RELEASE=/etc/mex-release
ARTIFACTORY_APT='https://artifactory.mobiledgex.net/artifactory/packages'
IMAGE_CACHE=/tmp/docker-image-cache.txt

exec &> >(tee "$TMPLOG")

[[ "${TRACE:-no}" == yes ]] && set -x
set -euo pipefail

log() {
	echo "[$(date)] $*"
}

die() {
	log "FATAL: $*"
	exit 2
}

archive_log() {
	mkdir -p "$LOGDIR"
	chmod 0700 "$LOGDIR"
	[[ -f "$LOGFILE" ]] && mv "$LOGFILE" "${LOGFILE}.$(date +'%Y-%m-%d-%H%M')"
	mv "$TMPLOG" "$LOGFILE"
}
trap archive_log EXIT

for VAR in APT_REPO PACKAGE_VERSION ARTIFACTORY_USER ARTIFACTORY_APIKEY ROOT_PASS GRUB_PW_HASH TOTP_KEY; do
	[[ -n "${!VAR:-}" ]] || die "$VAR is not set"
done
: "${OUTPUT_PLATFORM:=openstack}"
: "${TAG:=$PACKAGE_VERSION}"

log "Starting setup.sh: mobiledgex $PACKAGE_VERSION for platform $OUTPUT_PLATFORM"

echo "127.0.0.1 $(hostname)" >>/etc/hosts

log "Setting up $MEX_RELEASE"
cat >"$MEX_RELEASE" <<EOT
MEX_BUILD="${GITTAG:-unknown} $(TZ=UTC date +'%Y/%m/%d %H:%M %Z')"
MEX_BUILD_TAG=$TAG
MEX_BUILD_FLAVOR=${FLAVOR:-}
MEX_BUILD_SRC_IMG=${SRC_IMG:-}
MEX_BUILD_SRC_IMG_CHECKSUM=${SRC_IMG_CHECKSUM:-}
MEX_PLATFORM_FLAVOR=$OUTPUT_PLATFORM
MEX_APT_REPO=$APT_REPO
EOT

log "Set up docker log file rotation"
mkdir -p /etc/docker
cat >/etc/docker/daemon.json <<EOT
{
  "log-driver": "json-file",
  "log-opts": {
    "max-size": "50m",
    "max-file": "20"
  }
}
EOT

log "Set up APT sources: $APT_REPO"
install -m 0600 /dev/null /etc/apt/auth.conf.d/mobiledgex.net.conf
cat >/etc/apt/auth.conf.d/mobiledgex.net.conf <<EOT
machine artifactory.mobiledgex.net login ${ARTIFACTORY_USER} password ${ARTIFACTORY_APIKEY}
machine apt.mobiledgex.net login ${ARTIFACTORY_USER} password ${ARTIFACTORY_APIKEY}
EOT
curl -sSf --netrc-file /etc/apt/auth.conf.d/mobiledgex.net.conf \
	"${ARTIFACTORY_APT%/packages}/api/gpg/key/public" | apt-key add -
curl -sSf --netrc-file /etc/apt/auth.conf.d/mobiledgex.net.conf \
	"${APT_REPO%/*/*}/gpg.key" | apt-key add -

rm -rf /etc/apt/sources.list.d/*
cat >/etc/apt/sources.list <<EOT
deb ${APT_REPO} bionic main
deb ${ARTIFACTORY_APT} cirrus main
EOT
apt-get update
apt-get upgrade -y

log "Disable cloud config overwrite of APT sources"
cat >>/etc/cloud/cloud.cfg <<EOT
# Preserve /etc/apt/sources.list
apt_preserve_sources_list: true
EOT

log "Disable snap"
apt-get purge -y snapd
rm -rf /snap /var/snap /var/cache/snapd /var/lib/snapd

log "Set up GRUB password"
cat >/etc/grub.d/50_grub_pw <<EOT
cat <<PW
set superusers="root"
password_pbkdf2 root $GRUB_PW_HASH
PW
EOT
chmod 0755 /etc/grub.d/50_grub_pw
# Allow boot without requiring passwords
sed -i '/^CLASS=/s/"$/ --unrestricted"/' /etc/grub.d/10_linux
update-grub

log "Install mobiledgex $PACKAGE_VERSION"
# Avoid questions from iptables-persistent
echo iptables-persistent iptables-persistent/autosave_v6 boolean true | debconf-set-selections
echo iptables-persistent iptables-persistent/autosave_v4 boolean true | debconf-set-selections
cat >/etc/apt/preferences.d/mobiledgex.pref <<EOT
Package: mobiledgex
Pin: version ${PACKAGE_VERSION}
Pin-Priority: 1001
EOT
apt-get install -y "mobiledgex=${PACKAGE_VERSION}" \
	|| die "Failed to install mobiledgex ${PACKAGE_VERSION}"
apt-mark hold mobiledgex linux-image-virtual kubeadm kubectl kubelet

if [[ "$OUTPUT_PLATFORM" == vsphere ]]; then
	log "Adding VMware cloud-init guestinfo datasource"
	curl -sSfL https://raw.githubusercontent.com/vmware/cloud-init-vmware-guestinfo/v1.3.1/install.sh | sh -
fi

case "$OUTPUT_PLATFORM" in
vsphere|vcd)
	log "Removing serial console from grub"
	sed -i 's/"console=tty1 console=ttyS0"/""/' /etc/default/grub.d/50-cloudimg-settings.cfg
	update-grub
	systemctl enable open-vm-tools
	;;
esac

log "Enabling the mobiledgex service"
systemctl enable mobiledgex

log "Setting the root password"
chpasswd <<<"root:${ROOT_PASS}"

log "Setting up root TOTP"
echo "auth required pam_google_authenticator.so" >>/etc/pam.d/login
install -m 0400 /dev/null /root/.google_authenticator
cat >/root/.google_authenticator <<EOT
$TOTP_KEY
" RATE_LIMIT 3 30
" WINDOW_SIZE 17
" DISALLOW_REUSE
" TOTP_AUTH
EOT

K8S_VERSION=$(kubeadm version -o short)
log "Pulling docker images for kubernetes $K8S_VERSION"
kubeadm config images pull --kubernetes-version "$K8S_VERSION"
grep -v -e '^#' -e '^[[:space:]]*$' "$IMAGE_CACHE" | while read -r IMAGE; do
	docker pull --quiet "$IMAGE"
done
rm -f "$IMAGE_CACHE"
docker image ls

log "Serving the k8s join command (see /etc/mobiledgex/install-k8s-master.sh)"
mkdir -p /var/tmp/k8s-join
cat >/etc/systemd/system/k8s-join.service <<'EOT'
[Unit]
Description=Serve the kubeadm join command to cluster nodes

[Service]
Type=simple
WorkingDirectory=/var/tmp/k8s-join
ExecStart=/usr/bin/python3 -m http.server 20800
Restart=always

[Install]
WantedBy=multi-user.target
EOT

log "Chef client"
mkdir -p /etc/chef
touch /etc/chef/client.rb
cat >/etc/systemd/system/chef-client.service <<'EOT'
[Unit]
Description=Chef Client daemon
After=network.target auditd.service

[Service]
Type=simple
ExecStart=/usr/bin/chef-client -c /etc/chef/client.rb -i 600 -s 20 --chef-license accept
Restart=always

[Install]
WantedBy=multi-user.target
EOT

swapoff -a
sed -i '/[[:space:]]swap[[:space:]]/d' /etc/fstab

log "Package list"
dpkg -l

log "Done setup.sh"
