// The libvirt XML `tandem libvirt pool-xml|disk-xml` print (libvirt-storage-plugin/README.md):
// a `dir` pool on a tandem-pool-fs mount, and a domain <disk> for a pool volume or for the
// volume's NBD export. Pure functions; thread-safe. Names are object names (no XML escaping
// needed); paths are escaped.
#pragma once

#include <string>

namespace tandem::cli {

// The libvirt pool name used for a resource group: "tandem-<group>".
std::string libvirtPoolName(const std::string& group);

// <pool type='dir'> named `pool_name` whose target is <mount>/volumes (the directory that exists
// only while tandem-pool-fs is mounted there).
std::string libvirtPoolXml(const std::string& pool_name, const std::string& mount);

// <disk type='volume'> of volume `volume` in libvirt pool `pool_name`, as guest device `target`.
std::string libvirtVolumeDiskXml(const std::string& pool_name, const std::string& volume, const std::string& target);

// <disk type='network'> on the NBD export `export_name` at host:port (cache='none', io='native').
std::string libvirtNbdDiskXml(const std::string& host, int port, const std::string& export_name,
                              const std::string& target);

}  // namespace tandem::cli
