#!/bin/sh
# capture.sh NAME...: for each testdata/NAME.conf (the body of a
# "Filter From Kernelspace" block), run conntrackd 1.4.7 in a throwaway
# network namespace under strace and keep the setsockopt(SO_ATTACH_FILTER)
# call, with the program it attaches, as NAME.strace. Needs root, ip,
# strace and conntrackd. The golden files are checked in; run this only to
# add a case or to look at another conntrackd build.
set -eu
cd "$(dirname "$0")"
for name in "$@"; do
	d=$(mktemp -d)
	{
		printf 'General {\n\tLockFile %s/lock\n\tUNIX { Path %s/ctl }\n' "$d" "$d"
		printf '\tFilter From Kernelspace {\n'
		cat "$name.conf"
		printf '\t}\n}\nStats {\n\tLogFile %s/stats.log\n}\n' "$d"
	} >"$d/conntrackd.conf"
	ns=kbpf-capture-$$
	ip netns add "$ns"
	setsid timeout 2 ip netns exec "$ns" strace -f -v -X raw -e trace=setsockopt -s 1000000 \
		-o "$d/trace" conntrackd -C "$d/conntrackd.conf" >"$d/log" 2>&1 || true
	ip netns delete "$ns"
	if ! grep 'setsockopt(.*0x1a, {len=' "$d/trace" | sed 's/^[0-9]*  *//' >"$name.strace"; then
		cat "$d/log" >&2
		rm -rf "$d"
		echo "capture.sh: $name: conntrackd attached no filter" >&2
		exit 1
	fi
	rm -rf "$d"
done
