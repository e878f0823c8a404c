#
# Cookbook:: upgrade_mobiledgex_package
# Recipe:: default
#
# Upgrade the mobiledgex package of rootLB VMs to the version in the
# cookbook attributes, from the APT snapshot the base image was built from.
#

package_version = node['upgrade_mobiledgex_package']['version']

if node['tags'].to_a.include?('vmtype/rootlb')
  # Installed version: `dpkg-query -W -f '${Version}' mobiledgex`
  cur_version = shell_out("dpkg-query -W -f '${Version}' mobiledgex").stdout.strip

  unless cur_version == package_version
    # Pin the mobiledgex package version
    apt_preference 'mobiledgex' do
      pin "version #{package_version}"
      pin_priority '1001'
    end

    # Empty /etc/apt/sources.list; the repositories go to /etc/apt/sources.list.d/
    file '/etc/apt/sources.list' do
      content ''
    end

    directory '/etc/apt/sources.list.d' do
      owner 'root'
      group 'root'
      mode '0755'
    end

    apt_repository 'bionic' do
      uri 'https://apt.mobiledgex.net/cirrus/2021-02-01'
      distribution 'bionic'
      components ['main']
    end

    apt_repository 'cirrus' do
      uri 'https://artifactory.mobiledgex.net/artifactory/packages'
      distribution 'cirrus'
      components ['main']
    end

    execute 'Unhold the mobiledgex package' do
      command 'apt-mark unhold mobiledgex'
      only_if 'dpkg-query -W mobiledgex'
    end

    apt_update 'mobiledgex' do
      action :update
    end

    apt_package 'mobiledgex' do
      version package_version
      options '--allow-change-held-packages'
      action :upgrade
    end

    execute 'Hold the mobiledgex package' do
      command 'apt-mark hold mobiledgex'
    end
  end
end
