# A NixOS-style module fragment: the configuration is Nix data, written out
# as HCL's JSON syntax, which ctsync reads as it reads HCL.
#
#   nix-instantiate --eval --strict --json ctsync.nix > ctsync.json
#
# ctsync.json next to this file is that output for the `fw1` host below,
# and it is what the test suite loads (no Nix is needed to run the tests).
let
  host = {
    name = "fw1";
    syncInterface = "lo";
    group = "225.0.0.50";
    localAddress = "127.0.0.1";
    virtualIPs = [ "198.51.100.254" ];
  };
in
{
  control.path = "/run/ctsync.ctl";
  log.syslog = "daemon";
  filter = {
    run_in = "kernel";
    stage = {
      protocol.accept = [ "tcp" "udp" ];
      address.ignore = [ "::1" host.localAddress ] ++ host.virtualIPs;
    };
  };
  cache.external.enabled = true;
  sync.notrack = {
    startup_resync = true;
  };
  link.${host.syncInterface} = {
    transport = "multicast";
    interface = host.syncInterface;
    group = host.group;
    interface_address = host.localAddress;
    port = 3780;
  };
}
