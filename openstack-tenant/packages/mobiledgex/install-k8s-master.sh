#!/bin/bash
#
# Initialize a Kubernetes master with the kubeadm version the package pins,
# and publish the join command for the nodes.

set -euo pipefail

JOIN_DIR=/var/tmp/k8s-join
POD_CIDR=${POD_CIDR:-10.244.0.0/16}
K8S_VERSION=$(kubeadm version -o short)

swapoff -a
kubeadm init --kubernetes-version "$K8S_VERSION" --pod-network-cidr "$POD_CIDR"

mkdir -p /root/.kube
cp /etc/kubernetes/admin.conf /root/.kube/config

kubectl apply -f /etc/mobiledgex/weave.yml 2>/dev/null \
	|| echo "No CNI manifest in /etc/mobiledgex; install one before joining nodes"

mkdir -p "$JOIN_DIR"
kubeadm token create --ttl 0 --print-join-command >"${JOIN_DIR}/k8s-join-cmd"
chmod 0644 "${JOIN_DIR}/k8s-join-cmd"
