#include "tandem/cli/libvirt_xml.h"

namespace tandem::cli {
namespace {

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '\'': out += "&apos;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

std::string libvirtPoolName(const std::string& group) { return "tandem-" + group; }

std::string libvirtPoolXml(const std::string& pool_name, const std::string& mount) {
  std::string dir = mount;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return "<pool type='dir'>\n"
         "  <name>" + escape(pool_name) + "</name>\n"
         "  <target>\n"
         "    <path>" + escape(dir) + "/volumes</path>\n"
         "  </target>\n"
         "</pool>\n";
}

std::string libvirtVolumeDiskXml(const std::string& pool_name, const std::string& volume, const std::string& target) {
  return "<disk type='volume' device='disk'>\n"
         "  <driver name='qemu' type='raw' cache='none' io='native'/>\n"
         "  <source pool='" + escape(pool_name) + "' volume='" + escape(volume) + "'/>\n"
         "  <target dev='" + escape(target) + "' bus='virtio'/>\n"
         "</disk>\n";
}

std::string libvirtNbdDiskXml(const std::string& host, int port, const std::string& export_name,
                              const std::string& target) {
  return "<disk type='network' device='disk'>\n"
         "  <driver name='qemu' type='raw' cache='none' io='native'/>\n"
         "  <source protocol='nbd' name='" + escape(export_name) + "'>\n"
         "    <host name='" + escape(host) + "' port='" + std::to_string(port) + "'/>\n"
         "  </source>\n"
         "  <target dev='" + escape(target) + "' bus='virtio'/>\n"
         "</disk>\n";
}

}  // namespace tandem::cli
