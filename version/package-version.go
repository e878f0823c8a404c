package version

var MobiledgeXPackageVersion = "3.0.1"
