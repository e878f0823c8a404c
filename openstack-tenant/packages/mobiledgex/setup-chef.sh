#!/bin/bash
#
# Point chef-client at the chef server and a policy.
#
#   setup-chef.sh -s <chef server url> -p <policy name> [-g <policy group>] [-n <node name>]

set -euo pipefail

CHEF_DIR=/etc/chef
POLICY_GROUP=main
NODE_NAME=$(hostname)
SERVER_URL=''
POLICY_NAME=''

usage() {
	echo "usage: $(basename "$0") -s <chef server url> -p <policy name> [-g <policy group>] [-n <node name>]" >&2
	exit 1
}

while getopts ":s:p:g:n:" OPT; do
	case "$OPT" in
	s) SERVER_URL="$OPTARG" ;;
	p) POLICY_NAME="$OPTARG" ;;
	g) POLICY_GROUP="$OPTARG" ;;
	n) NODE_NAME="$OPTARG" ;;
	*) usage ;;
	esac
done
[[ -n "$SERVER_URL" && -n "$POLICY_NAME" ]] || usage

mkdir -p "$CHEF_DIR"
chmod 0750 "$CHEF_DIR"

cat >"${CHEF_DIR}/client.rb" <<EOT
chef_server_url   "${SERVER_URL}"
node_name         "${NODE_NAME}"
policy_name       "${POLICY_NAME}"
policy_group      "${POLICY_GROUP}"
client_key        "${CHEF_DIR}/client.pem"
log_location      "/var/log/chef/client.log"
chef_license      "accept"
ssl_verify_mode   :verify_peer
EOT

mkdir -p /var/log/chef
systemctl enable chef-client.service >/dev/null 2>&1 || true
systemctl restart chef-client.service || true
