#!/bin/bash
#
# Undo what mobiledgex-init.sh did, so a VM can be reinitialized.

set -u

kubeadm reset -f >/dev/null 2>&1 || true
rm -rf /root/.kube /var/tmp/k8s-join
systemctl stop chef-client.service >/dev/null 2>&1 || true
rm -f /etc/chef/client.rb /etc/chef/client.pem
docker system prune -af >/dev/null 2>&1 || true
echo "VM cleaned up"
