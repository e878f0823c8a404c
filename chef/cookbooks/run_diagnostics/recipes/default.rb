#
# Cookbook:: run_diagnostics
# Recipe:: default
#
# Collect a diagnostics bundle when the platform asks for one through the
# 'run_diagnostics' node attribute.
#

if node.attribute?('run_diagnostics') && node['run_diagnostics']['requested']
  bundle_dir = '/var/tmp/mobiledgex-diagnostics'

  directory bundle_dir do
    mode '0700'
  end

  bash 'collect diagnostics' do
    code <<-EOH
      set -u
      cd #{bundle_dir}
      cp /etc/mex-release mex-release 2>/dev/null
      dpkg -l >packages.txt
      docker ps -a >docker-ps.txt 2>&1
      journalctl -u mobiledgex -u chef-client --since '-1d' >journal.txt 2>&1
      tar czf ../mobiledgex-diagnostics.tar.gz .
    EOH
  end

  node.normal['run_diagnostics']['requested'] = false
end
