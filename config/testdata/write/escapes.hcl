daemon {}

log {
  syslog = "on"
}

control {
  # multi
  # line
  path = "/run/ct \"sync\"\\$${HOME}%%{x}.ctl" # a # in a comment
}

filter {
  stage "address" {
    accept = []
  }
  stage "protocol" {
    ignore = ["0x10", "yes", "12:30", "1e3", "null"]
  }
}

link "a \"b\"" {
  transport = "tcp"
  local     = "::"
  peer      = "fe80::1"
}

helpers {}
