package vmlayer

import (
	"fmt"
	"strings"
)

// VMDomain is the set of VMs a cloudlet operation applies to.
type VMDomain string

const (
	VMDomainCompute  VMDomain = "compute"
	VMDomainPlatform VMDomain = "platform"
	VMDomainAny      VMDomain = "any"
)

const MEX_ROOTLB_FLAVOR_NAME = "mex-rootlb-flavor"
const MINIMUM_DISK_SIZE uint64 = 20
const MINIMUM_RAM_SIZE uint64 = 2048
const MINIMUM_VCPUS uint64 = 2

// note that qcow2 must be understood by vsphere and vmdk must
// be known by openstack so they can be converted back and forth
var ImageFormatQcow2 = "qcow2"
var ImageFormatVmdk = "vmdk"

// ImageFormatVersion is the version of the image metadata layout,
// not of the base image itself.
var ImageFormatVersion = "1.0"

// MEXInfraVersion is the base VM image version (the mobiledgex package
// version) this platform code expects.
var MEXInfraVersion = "3.0.1"
var ImageNamePrefix = "mobiledgex-v"
var DefaultOSImageName = ImageNamePrefix + MEXInfraVersion

// NoSubnetDNS means that DNS servers are not specified when creating the subnet
var NoSubnetDNS = "NONE"

var DefaultCloudletVMImagePath = "https://artifactory.mobiledgex.net/artifactory/baseimages/"

// VMProperties are the properties of a VM-based cloudlet platform.
type VMProperties struct {
	SharedRootLBName string
	Domain           VMDomain
	PlatformFlavor   string
	ImagePath        string
}

// GetBaseImageName returns the name of the base image the platform deploys,
// e.g. "mobiledgex-v1.2.3" on openstack or "mobiledgex-v1.2.3-vcd" on VCD.
func (vp *VMProperties) GetBaseImageName() string {
	name := ImageNamePrefix + MEXInfraVersion
	if vp.PlatformFlavor != "" && vp.PlatformFlavor != "openstack" {
		name += "-" + vp.PlatformFlavor
	}
	return name
}

// GetCloudletVMImagePath returns the URL the base image is downloaded from.
func (vp *VMProperties) GetCloudletVMImagePath(format string) string {
	path := vp.ImagePath
	if path == "" {
		path = DefaultCloudletVMImagePath
	}
	if !strings.HasSuffix(path, "/") {
		path += "/"
	}
	return fmt.Sprintf("%s%s.%s", path, vp.GetBaseImageName(), format)
}
