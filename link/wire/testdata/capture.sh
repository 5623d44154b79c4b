#!/bin/bash
# capture.sh MODE [TRANSPORT [SCENARIO]] — record the sync link between two
# legacy conntrackd 1.4.7 daemons while conntrack entries are created,
# updated and deleted on node 1. Writes /tmp/ctwcap/NAME.pcap and
# /tmp/ctwcap/NAME.log, NAME being MODE-TRANSPORT (SCENARIO all) or
# MODE-TRANSPORT-SCENARIO. Needs root, ip, tcpdump, conntrack, nft, python3,
# /usr/sbin/conntrackd. Turn the pcap into a fixture with
#   go test ./link/wire -run TestImportPcap -pcap /tmp/ctwcap/ftfw-udp.pcap \
#      -port 3790 -fixture testdata/captures/ftfw-udp.txtar
# Only documentation/benchmark addresses are used: 198.51.100.0/24 and
# 2001:db8::/32 on the veths, 203.0.113.0/24 for the NAT scenario's client,
# 198.18.0.0/15, 203.0.113.0/24 and 2001:db8::/32 in synthetic entries.
set -u
MODE=${1:-ftfw}          # ftfw | notrack
TRANSPORT=${2:-udp}      # udp | mcast | tcp | udp6 | mcast6 | tcp6
SCENARIO=${3:-all}       # all: every kind of entry; ftpnat: FTP through SNAT
PORT=3790
D=/tmp/ctwcap
N1=ctwcap1 N2=ctwcap2    # node 1 (changes happen here) and node 2
NC=ctwcapc NS=ctwcaps    # ftpnat: FTP client and server behind/beyond node 1
mkdir -p $D
OUT=$D/$MODE-$TRANSPORT
[ "$SCENARIO" = all ] || OUT=$OUT-$SCENARIO
exec > >(tee $OUT.log) 2>&1

cleanup() {
	for i in 1 2; do
		ip netns exec ctwcap$i conntrackd -C $D/ct$i.conf -k 2>/dev/null
	done
	sleep 1
	[ -n "${TCPDUMP:-}" ] && kill $TCPDUMP 2>/dev/null && wait $TCPDUMP 2>/dev/null
	[ -n "${SRV:-}" ] && kill $SRV 2>/dev/null
	for n in $N1 $N2 $NC $NS; do ip netns del $n 2>/dev/null; done
	rm -f $D/ct1.lock $D/ct2.lock $D/ct1.sock $D/ct2.sock
}
trap cleanup EXIT

# The sync veth: veth1 in node 1, veth2 in node 2. In the ftpnat scenario
# node 1 also routes between the client (203.0.113.0/24) and the server
# (198.51.100.64/26), so the sync subnet shrinks to 198.51.100.0/26.
SYNCNET=24
[ "$SCENARIO" = ftpnat ] && SYNCNET=26
ip netns add $N1 && ip netns add $N2 || exit 1
ip link add veth1 netns $N1 type veth peer name veth2 netns $N2
ip -n $N1 addr add 198.51.100.1/$SYNCNET dev veth1
ip -n $N2 addr add 198.51.100.2/$SYNCNET dev veth2
ip -n $N1 addr add 2001:db8::1/64 dev veth1 nodad
ip -n $N2 addr add 2001:db8::2/64 dev veth2 nodad
for n in $N1 $N2; do
	ip -n $n link set lo up
	ip -n $n link set veth${n#ctwcap} up
	ip netns exec $n sysctl -qw net.netfilter.nf_conntrack_events=1
done
# The sync link's own packets must not be tracked, or every sync message
# creates/refreshes/destroys a conntrack entry that is synced in turn (a
# feedback loop: a flush produced 15000 messages in one second). IPv6
# fragments are reassembled before priority -300, so th dport matches.
for n in $N1 $N2; do
	ip netns exec $n nft -f - <<NFT
table inet raw {
	chain pre { type filter hook prerouting priority -300; meta l4proto { tcp, udp } th dport $PORT notrack; meta l4proto { tcp, udp } th sport $PORT notrack; }
	chain out { type filter hook output priority -300; meta l4proto { tcp, udp } th dport $PORT notrack; meta l4proto { tcp, udp } th sport $PORT notrack; }
}
NFT
done
# multicast only on the veth
ip -n $N1 route add 224.0.0.0/4 dev veth1
ip -n $N2 route add 224.0.0.0/4 dev veth2

conf() { # node self peer self6 peer6
	local link
	case $TRANSPORT in
	udp | tcp | udp6 | tcp6)
		local kw=${TRANSPORT%6} self=$2 peer=$3 fam=IPv4
		[ "$kw" != "$TRANSPORT" ] && self=$4 peer=$5 fam=IPv6
		link="${kw^^} {
		${fam}_address $self
		${fam}_Destination_Address $peer
		Port $PORT
		Interface veth$1
		Checksum on
	}" ;;
	mcast) link="Multicast {
		IPv4_address 225.0.0.50
		Group $PORT
		IPv4_interface $2
		Interface veth$1
		Checksum on
	}" ;;
	# IPv6_address must come before Interface (legacy parser order bug)
	mcast6) link="Multicast {
		IPv6_address ff02::1:3790
		Group $PORT
		Interface veth$1
		Checksum on
	}" ;;
	*) echo "unknown transport $TRANSPORT"; exit 1 ;;
	esac
	local mode="Mode FTFW { ResendQueueSize 131072 ACKWindowSize 20 }"
	[ $MODE = notrack ] && mode="Mode NOTRACK { DisableExternalCache on }"
	cat > $D/ct$1.conf <<CONF
Sync {
	$mode
	$link
	Options {
		TCPWindowTracking on
		ExpectationSync on
	}
}
General {
	Systemd off
	HashSize 8192
	HashLimit 65535
	LogFile $D/ct$1-daemon.log
	Syslog off
	LockFile $D/ct$1.lock
	UNIX { Path $D/ct$1.sock }
	NetlinkBufferSize 2097152
	NetlinkBufferSizeMaxGrowth 8388608
	NetlinkEventsReliable off
}
CONF
}
conf 1 198.51.100.1 198.51.100.2 2001:db8::1 2001:db8::2
conf 2 198.51.100.2 198.51.100.1 2001:db8::2 2001:db8::1
echo "+ ct1.conf"; cat $D/ct1.conf

# Non-first IPv6 fragments carry no port: keep them too (a full sync
# datagram over IPv6 exceeds the MTU by 20 bytes, see README.md).
ip netns exec $N2 tcpdump -i veth2 -U -s 0 -w $OUT.pcap "port $PORT or (ip6 and ip6[6] == 44)" &
TCPDUMP=$!
sleep 1
ip netns exec $N1 conntrackd -d -C $D/ct1.conf
sleep 1
ip netns exec $N2 conntrackd -d -C $D/ct2.conf
sleep 3

# ftpnat: FTP from a client through node 1, which SNATs it to its own
# address on the server side and runs the kernel ftp helper, so nf_nat_ftp
# rewrites "PORT 203,0,113,2,..." to the longer "PORT 198,51,100,65,..."
# (the control connection gets a sequence adjustment), the expectations
# carry a NAT tuple and direction, and the data connections have a master.
scenario_ftpnat() {
	ip netns add $NC && ip netns add $NS || exit 1
	ip link add vfc netns $N1 type veth peer name vc netns $NC
	ip link add vfs netns $N1 type veth peer name vs netns $NS
	ip -n $N1 addr add 203.0.113.1/24 dev vfc
	ip -n $NC addr add 203.0.113.2/24 dev vc
	ip -n $N1 addr add 198.51.100.65/26 dev vfs
	ip -n $NS addr add 198.51.100.66/26 dev vs
	for l in "$N1 vfc" "$N1 vfs" "$NC vc" "$NS vs" "$NC lo" "$NS lo"; do ip -n ${l% *} link set ${l#* } up; done
	ip -n $NC route add default via 203.0.113.1
	ip netns exec $N1 sysctl -qw net.ipv4.ip_forward=1
	ip netns exec $N1 nft -f - <<NFT && echo "nft snat + ftp helper: ok"
table ip ftpnat {
	ct helper ftph { type "ftp" protocol tcp; }
	chain pre { type filter hook prerouting priority 0; tcp dport 21 ct helper set "ftph"; }
	chain post { type nat hook postrouting priority 100; oifname "vfs" snat to 198.51.100.65; }
}
NFT
	ip netns exec $N1 conntrack -E expect > $D/exp-events.txt 2>&1 &
	local EV=$!
	ip netns exec $NS python3 - <<'PY' &
import re, socket, time
def listen(addr, port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port)); s.listen(1); s.settimeout(10); return s
s = listen("198.51.100.66", 21)
c, peer = s.accept(); f = c.makefile("rb")
print("server: control from", peer)
c.sendall(b"220 hi\r\n"); f.readline()                      # USER
c.sendall(b"331 go on\r\n"); line = f.readline()            # PORT, as node 1 rewrote it
print("server: got", line)
h = [int(x) for x in re.search(rb"PORT ([0-9,]+)", line).group(1).split(b",")]
c.sendall(b"200 PORT ok\r\n")
time.sleep(1)
d = socket.socket(); d.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
d.bind(("198.51.100.66", 20)); d.settimeout(5)
d.connect(("%d.%d.%d.%d" % tuple(h[:4]), h[4] * 256 + h[5]))   # active data connection
d.sendall(b"active data\r\n"); time.sleep(0.5); d.close()
c.sendall(b"226 done\r\n"); f.readline()                    # PASV
p = listen("198.51.100.66", 40020)
c.sendall(b"227 Entering Passive Mode (198,51,100,66,156,84).\r\n")   # 156*256+84 = 40020
e, _ = p.accept(); print("server: passive data", e.recv(100)); time.sleep(0.5); e.close()
c.sendall(b"226 done\r\n"); f.readline()                    # QUIT
c.sendall(b"221 bye\r\n"); time.sleep(1); c.close()
PY
	SRV=$!
	sleep 1
	rm -f $D/ftp-idle $D/ftp-quit
	(ip netns exec $NC python3 - <<'PY'
import re, socket, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("203.0.113.2", 40010)); l.listen(1); l.settimeout(10)
for _ in range(50):   # the server may still be starting
    try:
        c = socket.create_connection(("198.51.100.66", 21), timeout=5); break
    except ConnectionRefusedError:
        time.sleep(0.1)
f = c.makefile("rb"); f.readline()
# The ftp helper parses only lines whose start it has seen: never the
# first line of a direction, hence USER and the banner first.
c.sendall(b"USER anonymous\r\n"); f.readline()
c.sendall(b"PORT 203,0,113,2,156,74\r\n"); print("client:", f.readline())   # 40010
d, peer = l.accept(); print("client: active data from", peer, d.recv(100)); d.close()
print("client:", f.readline())
c.sendall(b"PASV\r\n"); r = f.readline(); print("client:", r)
h = [int(x) for x in re.search(rb"\(([0-9,]+)\)", r).group(1).split(b",")]
e = socket.create_connection(("%d.%d.%d.%d" % tuple(h[:4]), h[4] * 256 + h[5]), timeout=5)
e.sendall(b"passive data\r\n"); time.sleep(0.5); e.close()
print("client:", f.readline())
import os   # stay idle, control connection open, until the shell is done
open("/tmp/ctwcap/ftp-idle", "w").close()
for _ in range(200):
    if os.path.exists("/tmp/ctwcap/ftp-quit"): break
    time.sleep(0.1)
c.sendall(b"QUIT\r\n"); print("client:", f.readline()); time.sleep(1.5); c.close()
PY
	) &
	local CLI=$!
	for _ in $(seq 100); do [ -e $D/ftp-idle ] && break; sleep 0.1; done
	# conntrackd copies only some attributes of an update event into its
	# cache, so the sequence adjustment the PORT rewrite set never reaches
	# the wire through events. Refill node 1's cache from a kernel dump
	# (which has it) and have node 2 ask for a resync: the bulk carries
	# NAT_SEQ_ADJ.
	echo "+ conntrackd -f internal; conntrackd -R (ns1); conntrackd -n (ns2)"
	ip netns exec $N1 conntrackd -C $D/ct1.conf -f internal
	ip netns exec $N1 conntrackd -C $D/ct1.conf -R
	sleep 1
	ip netns exec $N2 conntrackd -C $D/ct2.conf -n
	sleep 1
	echo "+ conntrackd -i (ns1 internal cache)"; ip netns exec $N1 conntrackd -C $D/ct1.conf -i 2>&1 | head
	touch $D/ftp-quit
	wait $CLI
	wait $SRV; SRV=
	sleep 2
	kill $EV; wait $EV 2>/dev/null
	echo "+ conntrack -E expect (ns1)"; cat $D/exp-events.txt
	echo "+ conntrack -L (ns1)"; ip netns exec $N1 conntrack -L 2>&1
	# bulk: node 2 asks node 1 for a resync (the dump carries the master
	# tuples and sequence adjustments of what is still in the table)
	ip netns exec $N2 conntrackd -C $D/ct2.conf -n && echo "resync request: ok"
	sleep 2
	echo "+ conntrackd -e (ns2 external cache)"; ip netns exec $N2 conntrackd -C $D/ct2.conf -e 2>&1 | head -40
	echo "+ conntrackd -e expect (ns2)"; ip netns exec $N2 conntrackd -C $D/ct2.conf -e expect 2>&1 | head
	ip netns exec $N1 conntrack -F 2>&1
	sleep 3
}

# all: the scenario of the first fixtures (every kind of entry, one FTP
# session between the nodes themselves). Not indented: it holds heredocs.
scenario_all() {
ct() { echo "+ conntrack $*"; ip netns exec $N1 conntrack "$@" 2>&1 | grep -v 'flow entr'; }
# TCP in several states, timeout and mark
ct -I -p tcp -s 198.18.0.10 -d 198.18.0.20 --sport 1234 --dport 80 --state ESTABLISHED -t 100 -u SEEN_REPLY,ASSURED -m 7
ct -I -p tcp -s 198.18.0.11 -d 198.18.0.20 --sport 1235 --dport 443 --state SYN_SENT -t 120
ct -I -p tcp -s 198.18.0.12 -d 198.18.0.20 --sport 1236 --dport 22 --state TIME_WAIT -t 60 -u SEEN_REPLY
ct -I -p tcp -s 198.18.0.13 -d 198.18.0.20 --sport 1237 --dport 25 --state CLOSE_WAIT -t 60 -u SEEN_REPLY,ASSURED
# UDP, ICMP (id 0x1234), SCTP, DCCP
ct -I -p udp -s 198.18.0.30 -d 198.18.0.31 --sport 5353 --dport 53 -t 30
ct -I -p icmp -s 198.18.0.40 -d 198.18.0.41 --icmp-type 8 --icmp-code 0 --icmp-id 0x1234 -t 30
ct -I -p sctp -s 198.18.0.50 -d 198.18.0.51 --sport 2905 --dport 2906 --state ESTABLISHED --orig-vtag 0x11223344 --reply-vtag 0x55667788 -t 200
ct -I -p dccp -s 198.18.0.60 -d 198.18.0.61 --sport 5004 --dport 5005 --state OPEN --role server -t 200
# IPv6: TCP and ICMPv6
ct -I -p tcp -s 2001:db8::10 -d 2001:db8::20 --sport 40000 --dport 443 --state ESTABLISHED -t 300 -u SEEN_REPLY,ASSURED
ct -I -p icmpv6 -s 2001:db8::10 -d 2001:db8::20 --icmpv6-type 128 --icmpv6-code 0 --icmpv6-id 0x4321 -t 30
# NAT: DNAT with port, SNAT, both
ct -I -p tcp -s 198.18.0.70 -d 198.18.0.71 --sport 3333 --dport 80 --state ESTABLISHED -t 100 -u SEEN_REPLY,ASSURED --dst-nat 203.0.113.7:8080
ct -I -p udp -s 198.18.0.72 -d 198.18.0.73 --sport 4444 --dport 53 -t 100 --src-nat 203.0.113.8:40000
ct -I -p tcp -s 2001:db8::70 -d 2001:db8::71 --sport 3334 --dport 80 --state ESTABLISHED -t 100 -u SEEN_REPLY,ASSURED --dst-nat 2001:db8::99
# zone, labels
ct -I -p udp -s 198.18.0.80 -d 198.18.0.81 --sport 1000 --dport 2000 -t 100 -w 5
# libnetfilter_conntrack reads label names from /etc/xtables/connlabel.conf
# only; give it one through an overlay in a private mount namespace so the
# host's /etc is left alone.
mkdir -p $D/etc-up/xtables $D/etc-work
printf '1 one\n40 forty\n' > $D/etc-up/xtables/connlabel.conf
# Labels cannot be given to -I: the kernel allocates the label extension only
# while some rule uses ct labels, then -U --label-add sets them.
echo "+ conntrack -I udp 198.18.0.82 then -U --label-add one,forty (labels 1 and 40)"
cp $D/etc-up/xtables/connlabel.conf $D/etc-up/connlabel.conf   # nft reads this one
unshare -m sh -c "mount -t overlay overlay -o lowerdir=/etc,upperdir=$D/etc-up,workdir=$D/etc-work /etc &&
	ip netns exec $N1 nft 'add table ip labels; add chain ip labels c { type filter hook prerouting priority 0; }; add rule ip labels c ct label set one' &&
	ip netns exec $N1 conntrack -I -p udp -s 198.18.0.82 -d 198.18.0.83 --sport 1000 --dport 2000 -t 100 &&
	ip netns exec $N1 conntrack -U -p udp -s 198.18.0.82 --label-add one,forty &&
	ip netns exec $N1 conntrack -L -p udp -s 198.18.0.82 -o labels" 2>&1
# update (mark) and delete
sleep 1
ct -U -p tcp -s 198.18.0.10 -d 198.18.0.20 --sport 1234 --dport 80 -m 9
ct -D -p tcp -s 198.18.0.11 -d 198.18.0.20 --sport 1235 --dport 443
sleep 1

# real traffic over the veth: TCP with window scaling, ping, and FTP with a
# helper to get HELPER_NAME, expectations and a related flow with a master.
ip netns exec $N1 nft -f - <<NFT && echo "nft ftp helper: ok"
table inet t {
	ct helper ftph { type "ftp" protocol tcp; }
	chain out { type filter hook output priority 0; tcp dport 21 ct helper set "ftph"; }
	chain pre { type filter hook prerouting priority 0; tcp sport 21 ct helper set "ftph"; }
}
NFT
ip netns exec $N2 python3 - <<'PY' &
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.2", 21)); s.listen(4)
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("198.51.100.2", 8000)); t.listen(4)
s.settimeout(8); t.settimeout(8)
c, _ = s.accept(); c.sendall(b"220 hi\r\n"); c.recv(200); c.sendall(b"331 go on\r\n")
c.recv(200); c.sendall(b"200 PORT ok\r\n")
time.sleep(1)
d = socket.create_connection(("198.51.100.1", 40010), timeout=3)   # related data conn
d.sendall(b"x"); time.sleep(0.5); d.close()
u, _ = t.accept(); u.recv(10); time.sleep(1); u.close()
time.sleep(1); c.close()
PY
SRV=$!
sleep 1
ip netns exec $N1 python3 - <<'PY'
import socket, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("198.51.100.1", 40010)); l.listen(1); l.settimeout(5)
for _ in range(50):   # the server may still be starting
    try:
        c = socket.create_connection(("198.51.100.2", 21), timeout=5); break
    except ConnectionRefusedError:
        time.sleep(0.1)
c.recv(100)
# The ftp helper reads commands only at a line start it has seen, so the
# first line of each direction is never parsed: send USER before PORT.
c.sendall(b"USER anonymous\r\n"); c.recv(100)
c.sendall(b"PORT 198,51,100,1,156,74\r\n"); c.recv(100)     # 156*256+74 = 40010
import subprocess
subprocess.run(["conntrack", "-L", "expect"])   # did the ftp helper expect 40010?
# And one by hand on the control connection (the kernel wants a master with
# a helper; conntrack 1.4.7 has no --helper for expectations), for 40011.
sp = str(c.getsockname()[1])
subprocess.run(["conntrack", "-I", "expect", "-p", "tcp", "--orig-src", "198.51.100.1", "--orig-dst", "198.51.100.2",
    "--orig-port-src", sp, "--orig-port-dst", "21", "--tuple-src", "198.51.100.2", "--tuple-dst", "198.51.100.1",
    "--tuple-port-src", "0", "--tuple-port-dst", "40011", "--mask-src", "255.255.255.255", "--mask-dst", "255.255.255.255",
    "--mask-port-src", "0", "--mask-port-dst", "65535", "--timeout", "60"])
subprocess.run(["conntrack", "-L", "expect"])
try:
    d, _ = l.accept(); d.recv(10); d.close(); print("ftp data connection: ok")
except Exception as e: print("ftp data connection:", e)
u = socket.create_connection(("198.51.100.2", 8000), timeout=5); u.sendall(b"y"); time.sleep(1.5); u.close()
time.sleep(1); c.close()
PY
ip netns exec $N1 ping -c 2 -i 0.3 -p 1234 198.51.100.2 >/dev/null && echo "ping: ok"
echo "+ conntrack -L expect (ns1)"; ip netns exec $N1 conntrack -L expect 2>&1
wait $SRV; SRV=
sleep 2
# bulk: node 2 asks node 1 for a resync, then node 1 asks node 2
ip netns exec $N2 conntrackd -C $D/ct2.conf -n && echo "resync request: ok"
sleep 2
echo "+ conntrack -L (ns1)"; ip netns exec $N1 conntrack -L 2>&1
echo "+ conntrackd -i (ns2 external cache)"; ip netns exec $N2 conntrackd -C $D/ct2.conf -e 2>&1 | head -60
echo "+ conntrackd -i expect (ns2)"; ip netns exec $N2 conntrackd -C $D/ct2.conf -e expect 2>&1 | head
# flush on node 1 -> deletes on the wire
ip netns exec $N1 conntrack -F 2>&1
sleep 3
}

case $SCENARIO in
all) scenario_all ;;
ftpnat) scenario_ftpnat ;;
*) echo "unknown scenario $SCENARIO"; exit 1 ;;
esac
echo "versions: $(conntrackd -v 2>&1 | head -1); $(conntrack --version 2>&1); kernel $(uname -r); $(tcpdump --version 2>&1 | head -1)"
