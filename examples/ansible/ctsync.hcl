# One template for every firewall of a cluster. Ansible (or Salt, Puppet)
# renders only data: one var-file per host, from the inventory, e.g.
#
#   - name: ctsync host variables
#     ansible.builtin.copy:
#       content: "{{ ctsync | to_nice_yaml }}"
#       dest: /etc/ctsync/host.yaml
#   - name: check before restarting
#     ansible.builtin.command: ctsync validate -var-file /etc/ctsync/host.yaml /etc/ctsync/ctsync.hcl
#
# host_vars/fw1.yaml and host_vars/fw2.yaml show what such files hold.

variable "links" {
  description = "dedicated links, the first one active: [{name, interface, local, peer}]"
}

variable "port" {
  default = 3780
}

variable "ignore" {
  description = "addresses of this host and its virtual IPs, never replicated"
  default     = []
}

control {
  path = "/run/ctsync.ctl"
}

filter {
  stage "protocol" {
    accept = ["tcp", "sctp", "dccp"]
  }
  stage "address" {
    ignore = distinct(concat(["127.0.0.1", "::1"], var.ignore))
  }
}

sync "ftfw" {
  startup_resync = true
}

dynamic "link" {
  for_each = var.links
  labels   = [link.value.name]
  content {
    transport = "udp"
    default   = link.key == 0
    interface = link.value.interface
    local     = link.value.local
    peer      = link.value.peer
    port      = var.port
  }
}
