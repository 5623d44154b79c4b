# Cluster fw1/fw2.
#
# Migrated from conntrackd.conf.

# process settings
daemon {                                          # legacy General
  lock_file             = "/var/lock/ctsync.lock" # not the default
  systemd               = false
  poll_interval         = "10s"
  event_iteration_limit = 200
}

log {
  file   = "/var/log/ctsync.log"
  syslog = "local3"
}

control {
  path = "/run/ctsync.ctl"
}

metrics {
  listen = "127.0.0.1:9724"
}

netlink {
  buffer_size            = "2MiB"
  buffer_size_max_growth = "8MiB"
  overrun_resync         = "off"
  events_reliable        = true
}

scheduler {
  policy   = "fifo"
  priority = 50
}

filter {
  run_in = "kernel"

  stage "protocol" {
    accept = ["tcp", "udp", "sctp"]
  }
  # Never replicate the firewall's own traffic.
  stage "address" {
    ignore = [
      "127.0.0.1", # loopback
      "::1",
      "192.168.0.100", # virtual IP 1
      # the second VIP
      "192.168.0.101", # virtual IP 2
      "10.0.0.0/8",
    ]
  }
  stage "tcp_state" {
    accept = [
      "established",
      "syn_sent",
      "syn_recv",
      "fin_wait",
      "close_wait",
      "last_ack",
      "time_wait",
    ]
  }
}

cache "internal" {
  enabled = true
  size    = 32768 # buckets
  limit   = 131072
}

cache "external" {
  enabled = false
}

sync "ftfw" { # reliable mode
  # objects, not bytes
  resend_queue_size   = 131072
  ack_window_size     = 300
  startup_resync      = true
  refresh_time        = "1m"
  cache_timeout       = "3m"
  commit_timeout      = "0s"
  purge_timeout       = "60s"
  tcp_window_tracking = false
  expectation_sync    = true
  expectation_helpers = ["ftp", "sip"]
}

# the dedicated link
link "primary" {
  transport         = "multicast"
  default           = true
  interface         = "eth2"
  group             = "225.0.0.50"
  interface_address = "192.168.100.100"
  # legacy Group
  port           = 3780 # UDP port
  send_buffer    = "1220KiB"
  receive_buffer = "1220KiB"
  checksum       = true
}

link "backup" {
  transport          = "udp"
  interface          = "eth3"
  local              = "10.0.0.1"
  peer               = "10.0.0.2"
  port               = 3781
  checksum           = false
  error_queue_length = 64
}

stats {
  log_file = "/var/log/ctsync-stats.log"
  syslog   = "daemon"
}

helpers {
  setup = true

  helper "ftp" "inet" "tcp" { # needs nf_conntrack_ftp unloaded
    queue_num = 5
    queue_len = 10240

    policy "ftp" {
      expect_max     = 1
      expect_timeout = "300s"
    }
  }
  helper "rpc" "inet" "tcp" {
    queue_num = 3
  }
  # rpc over UDP
  helper "rpc" "inet" "udp" {
    queue_num = 4

    policy "rpc" { # expect_max is 0
      expect_timeout = "5m"
    }
  }
}
