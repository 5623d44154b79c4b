# Migrated from ftfw-multicast.conf by ctsync migrate.
#
# Two-node active/backup firewall: FT-FW replication over a multicast
# dedicated link. Written for ctsync's README; every address is from the
# documentation ranges.

daemon {
  lock_file = "/var/lock/conntrackd.lock"
}

log {
  file   = "/var/log/conntrackd.log"
  syslog = "daemon"
}

control {
  path = "/var/run/conntrackd.ctl"
}

netlink {
  buffer_size            = "2MiB"
  buffer_size_max_growth = "8MiB"
  events_reliable        = false
}

scheduler {
  policy   = "fifo"
  priority = 50
}

filter {
  run_in = "user"

  stage "protocol" {
    accept = ["tcp", "sctp", "dccp"]
  }
  # Never replicate the firewall's own traffic.
  stage "address" {
    ignore = [
      "127.0.0.1",      # loopback
      "198.51.100.1",   # virtual IP
      "203.0.113.0/24", # management network
      "::1",
    ]
  }
}

cache "internal" {
  size  = 32768
  limit = 131072
}

cache "external" {
  size  = 32768
  limit = 131072
}

sync "ftfw" {
  resend_queue_size   = 131072
  purge_timeout       = "1m"
  tcp_window_tracking = false
  expectation_sync    = true
}

link "primary" {
  transport         = "multicast"
  default           = true
  interface         = "lo" # the dedicated link
  group             = "225.0.0.50"
  interface_address = "127.0.0.1"
  port              = 3780
  send_buffer       = "1220KiB"
  receive_buffer    = "1220KiB"
  checksum          = true
}
