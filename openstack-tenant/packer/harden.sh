#!/bin/bash
#
# Packer provisioner, run as root on the build VM: CIS-style hardening of
# the base image.

[[ "${TRACE:-no}" == yes ]] && set -x
set -euo pipefail

log() {
	echo "[$(date)] $*"
}

log "Harden sshd"
SSHD_CONFIG=/etc/ssh/sshd_config
set_sshd() {
	local key="$1" value="$2"
	if grep -qiE "^#?[[:space:]]*${key}[[:space:]]" "$SSHD_CONFIG"; then
		sed -i -E "s/^#?[[:space:]]*${key}[[:space:]].*/${key} ${value}/I" "$SSHD_CONFIG"
	else
		echo "${key} ${value}" >>"$SSHD_CONFIG"
	fi
}
set_sshd PermitRootLogin no
set_sshd PasswordAuthentication no
set_sshd X11Forwarding no
set_sshd MaxAuthTries 4
set_sshd IgnoreRhosts yes
set_sshd HostbasedAuthentication no
set_sshd PermitEmptyPasswords no
set_sshd ClientAliveInterval 300
set_sshd ClientAliveCountMax 0
set_sshd LoginGraceTime 60
chmod 0600 "$SSHD_CONFIG"

log "Kernel parameters"
cat >/etc/sysctl.d/60-mobiledgex-hardening.conf <<'EOT'
net.ipv4.conf.all.send_redirects = 0
net.ipv4.conf.default.send_redirects = 0
net.ipv4.conf.all.accept_source_route = 0
net.ipv4.conf.default.accept_source_route = 0
net.ipv4.conf.all.accept_redirects = 0
net.ipv4.conf.default.accept_redirects = 0
net.ipv4.conf.all.log_martians = 1
net.ipv4.icmp_echo_ignore_broadcasts = 1
net.ipv4.tcp_syncookies = 1
kernel.randomize_va_space = 2
fs.suid_dumpable = 0
EOT

log "Disable unused filesystems"
cat >/etc/modprobe.d/mobiledgex-hardening.conf <<'EOT'
install cramfs /bin/true
install freevxfs /bin/true
install jffs2 /bin/true
install hfs /bin/true
install hfsplus /bin/true
install udf /bin/true
EOT

log "Restrict cron and at"
rm -f /etc/cron.deny /etc/at.deny
touch /etc/cron.allow /etc/at.allow
chmod 0600 /etc/cron.allow /etc/at.allow /etc/crontab
chmod 0700 /etc/cron.d /etc/cron.daily /etc/cron.hourly /etc/cron.weekly /etc/cron.monthly

log "Disable unneeded services"
for SERVICE in avahi-daemon cups rpcbind; do
	systemctl disable "$SERVICE" >/dev/null 2>&1 || true
done

log "Done harden.sh"
