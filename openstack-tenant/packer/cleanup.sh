#!/bin/bash
#
# Packer provisioner, run as root last: leave nothing of the build behind.

set -euo pipefail

apt-get autoremove -y
apt-get clean
rm -rf /var/lib/apt/lists/*

# The build's APT credentials; VMs get their own from chef
rm -f /etc/apt/auth.conf.d/mobiledgex.net.conf

cloud-init clean --logs
rm -f /etc/ssh/ssh_host_*
truncate -s 0 /etc/machine-id
rm -rf /tmp/* /var/tmp/packer-* /root/.bash_history /home/ubuntu/.bash_history
find /var/log -type f -exec truncate -s 0 {} +

echo "Done cleanup.sh"
