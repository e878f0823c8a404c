#!/bin/bash
#
# Runs once at every boot (mobiledgex.service): tailors a VM cut from the
# base image to the role the platform gave it through cloud-init metadata.

set -u

LOGFILE=/var/log/mobiledgex-init.log
METADATA_DIR=/var/lib/cloud/instance
MEX_RELEASE=/etc/mex-release
CHEF_SETUP=/etc/mobiledgex/setup-chef.sh

exec >>"$LOGFILE" 2>&1

log() {
	echo "[$(date -u +'%Y-%m-%dT%H:%M:%SZ')] $*"
}

log "mobiledgex-init starting"
[[ -f "$MEX_RELEASE" ]] && cat "$MEX_RELEASE"

# Metadata written by cloud-init from the platform's user data
ROLE=''
MASTER_IP=''
SKIPK8S=''
CHEF_SERVER=''
CHEF_POLICY=''
CHEF_POLICY_GROUP=''
if [[ -f "${METADATA_DIR}/mobiledgex.env" ]]; then
	# shellcheck disable=SC1090,SC1091
	. "${METADATA_DIR}/mobiledgex.env"
fi

swapoff -a

if [[ -n "$CHEF_SERVER" && -n "$CHEF_POLICY" ]]; then
	log "Setting up chef client for policy $CHEF_POLICY"
	"$CHEF_SETUP" -s "$CHEF_SERVER" -p "$CHEF_POLICY" -g "${CHEF_POLICY_GROUP:-main}" \
		|| log "chef setup failed"
fi

if [[ "$SKIPK8S" == yes ]]; then
	log "Kubernetes setup skipped"
else
	case "$ROLE" in
	k8s-master)
		log "Initializing Kubernetes master"
		/etc/mobiledgex/install-k8s-master.sh
		;;
	k8s-node)
		log "Joining Kubernetes cluster"
		MASTER_IP="$MASTER_IP" /etc/mobiledgex/install-k8s-node.sh
		;;
	*)
		log "No Kubernetes role: ${ROLE:-none}"
		;;
	esac
fi

log "mobiledgex-init done"
