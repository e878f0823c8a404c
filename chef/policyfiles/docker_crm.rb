# Uses docker containers to set up cloudlet services

# A name that describes what the system you're building with Chef does.
name 'docker_crm'

# Where to find external cookbooks:
default_source :chef_server, "https://chef.mobiledgex.net/organizations/mobiledgex"

# run_list: chef-client will run these recipes in the order specified.
run_list 'recipe[setup_infra]', 'recipe[run_diagnostics]', 'recipe[upgrade_mobiledgex_package]'

# Specify a custom source for a single cookbook:
# (setup_infra stays at the version uploaded before its last change)
cookbook 'setup_infra', '= 1.0.2'
cookbook 'run_diagnostics', '= 1.0.2'
cookbook 'upgrade_mobiledgex_package', '= 1.0.14'

default['setup_infra']['docker_log_max_size'] = '100m'
