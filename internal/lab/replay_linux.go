package lab

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Replay makes the sync link deliver late copies of datagrams: it
// captures the sync datagrams (UDP to SyncPort, IPv4) arriving on to's
// first sync link, and sends percent of them, chosen at random, again
// from from, each after a random delay of up to maxDelay. The copy
// leaves from's sync link as the original did, so to sees a datagram
// again, late and after others: with DegradeSync's drops on to, which
// take effect after the capture, the late copy of a dropped datagram is a
// reordered delivery, that of a delivered one a delayed duplicate. The
// kernel's netem qdisc would reorder too, but the lab's kernels need not
// have it. Replay stops at the end of the test, or when the returned
// function is called, which returns how many copies were sent.
func (l *Lab) Replay(t T, from, to *Node, percent int, maxDelay time.Duration) (stop func() int) {
	t.Helper()
	ifi, err := netInterface(to, to.SyncLinks[0].Name)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	// The capture: a packet socket on to's sync link sees what arrives
	// before the netdev ingress hook, where DegradeSync drops.
	var capFD int
	err = to.Do(func() (err error) {
		capFD, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_IP)))
		if err != nil {
			return err
		}
		if err := unix.Bind(capFD, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifi}); err != nil {
			unix.Close(capFD)
			return err
		}
		// A read returns now and then, so that the reader sees stop.
		tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
		return unix.SetsockoptTimeval(capFD, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	if err != nil {
		t.Fatalf("replay: capture on %s: %v", to.Role, err)
	}
	// The sender: a raw socket on from sends the captured IP packet as
	// it is (IPPROTO_RAW implies IP_HDRINCL), addressed as it was.
	var sendFD int
	err = from.Do(func() (err error) {
		sendFD, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		return err
	})
	if err != nil {
		unix.Close(capFD)
		t.Fatalf("replay: raw socket on %s: %v", from.Role, err)
	}

	var (
		done    = make(chan struct{})
		wg      sync.WaitGroup
		sent    atomic.Int64
		once    sync.Once
		rng     = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
		buf     = make([]byte, 65536)
		pending sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			n, sa, err := unix.Recvfrom(capFD, buf, 0)
			if err != nil {
				if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
					continue
				}
				return
			}
			if ll, ok := sa.(*unix.SockaddrLinklayer); !ok || ll.Pkttype != unix.PACKET_HOST {
				continue // what to sends, or not for it
			}
			pkt := buf[:n]
			dst, ok := syncDatagram(pkt)
			if !ok || rng.IntN(100) >= percent {
				continue
			}
			pkt = append([]byte(nil), pkt...)
			// The capture may hold the UDP checksum unfinished: veth
			// passes the sender's checksum offload along. Zero is
			// "no checksum" in IPv4, which the receiver accepts.
			ihl := int(pkt[0]&0x0f) * 4
			pkt[ihl+6], pkt[ihl+7] = 0, 0
			delay := time.Duration(rng.Int64N(int64(maxDelay) + 1))
			pending.Add(1)
			time.AfterFunc(delay, func() {
				defer pending.Done()
				select {
				case <-done:
					return
				default:
				}
				if unix.Sendto(sendFD, pkt, 0, &unix.SockaddrInet4{Addr: dst}) == nil {
					sent.Add(1)
				}
			})
		}
	}()
	stop = func() int {
		once.Do(func() {
			close(done)
			wg.Wait()
			pending.Wait()
			unix.Close(capFD)
			unix.Close(sendFD)
		})
		return int(sent.Load())
	}
	t.Cleanup(func() { stop() })
	return stop
}

// syncDatagram reports whether pkt, an IPv4 packet, is an unfragmented
// UDP datagram to SyncPort, and returns its destination.
func syncDatagram(pkt []byte) (dst [4]byte, ok bool) {
	if len(pkt) < 20 || pkt[0]>>4 != 4 || pkt[9] != unix.IPPROTO_UDP {
		return dst, false
	}
	ihl := int(pkt[0]&0x0f) * 4
	if binary.BigEndian.Uint16(pkt[6:8])&0x3fff != 0 || len(pkt) < ihl+8 {
		return dst, false // a fragment: the port is not in every one
	}
	copy(dst[:], pkt[16:20])
	return dst, binary.BigEndian.Uint16(pkt[ihl+2:ihl+4]) == SyncPort
}

func netInterface(n *Node, name string) (index int, err error) {
	err = n.Do(func() error {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return err
		}
		index = ifi.Index
		return nil
	})
	return index, err
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
