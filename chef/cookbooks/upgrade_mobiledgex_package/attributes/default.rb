# MobiledgeX package version: the base image version that rootLB VMs are
# upgraded to.  Keep it in step with VERSION in
# openstack-tenant/packages/mobiledgex/Makefile once the image is rolled out.
defaultMobiledgeXPackageVersion = '3.0.1'

default['upgrade_mobiledgex_package']['version'] = defaultMobiledgeXPackageVersion
