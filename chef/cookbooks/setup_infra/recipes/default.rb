#
# Cookbook:: setup_infra
# Recipe:: default
#
# Common setup of every VM the platform manages.
#

timezone = node.read('setup_infra', 'timezone') || 'Etc/UTC'

link '/etc/localtime' do
  to "/usr/share/zoneinfo/#{timezone}"
end

directory '/etc/docker' do
  owner 'root'
  group 'root'
  mode '0755'
end

docker_log_max_size = node.read('setup_infra', 'docker_log_max_size') || '50m'

file '/etc/docker/daemon.json' do
  content <<~EOT
    {
      "log-driver": "json-file",
      "log-opts": {
        "max-size": "#{docker_log_max_size}",
        "max-file": "20"
      }
    }
  EOT
  mode '0644'
  notifies :restart, 'service[docker]', :delayed
end

service 'docker' do
  action :nothing
end

execute 'swapoff' do
  command 'swapoff -a'
  only_if 'swapon --show --noheadings | grep -q .'
end
