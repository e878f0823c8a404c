# Base policy: common recipes run on every VM the platform deploys

# A name that describes what the system you're building with Chef does.
name 'base'

# Where to find external cookbooks:
default_source :chef_server, "https://chef.mobiledgex.net/organizations/mobiledgex"

# run_list: chef-client will run these recipes in the order specified.
run_list 'chef_client_updater::default', 'recipe[setup_infra]', 'recipe[upgrade_mobiledgex_package]'

# Specify a custom source for a single cookbook:
cookbook 'chef_client_updater', '= 3.11.0'
cookbook 'setup_infra', '= 1.0.3'
cookbook 'upgrade_mobiledgex_package', '= 1.0.14'

# Set chef-client version
# IMP: Version of chef client here needs to match the version in the base image.
#      See "openstack-tenant/packages/mobiledgex/dependencies"
default['chef_client_updater']['version'] = '17.6.18'

default['setup_infra']['timezone'] = 'Etc/UTC'
