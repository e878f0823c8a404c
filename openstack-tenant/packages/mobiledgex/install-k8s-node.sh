#!/bin/bash
#
# Join this VM to the Kubernetes cluster whose master serves the join
# command on port 20800 (see install-k8s-master.sh).

set -euo pipefail

MASTER_IP=${MASTER_IP:?MASTER_IP is not set}
JOIN_URL="http://${MASTER_IP}:20800/k8s-join-cmd"

swapoff -a
for attempt in $(seq 1 60); do
	if JOIN_CMD=$(curl -sSf "$JOIN_URL"); then
		eval "$JOIN_CMD"
		exit 0
	fi
	echo "Waiting for the join command from $MASTER_IP (attempt $attempt)"
	sleep 10
done
echo "Timed out waiting for $JOIN_URL" >&2
exit 1
