package ctnl

import (
	"errors"
	"syscall"
	"testing"

	"github.com/mdlayher/netlink"
)

// The probe tells an absent subsystem from a refused question, so the
// daemon names the module to load in the one case and the missing
// capability in the other.
func TestProbeHelper(t *testing.T) {
	tests := []struct {
		name    string
		answer  func(req netlink.Message) []byte
		absent  bool // errors.Is(err, ErrNoHelperSubsystem)
		errno   syscall.Errno
		present bool // nil error
	}{
		{name: "registered helpers listed", answer: func(req netlink.Message) []byte {
			helper := netlink.Message{Header: netlink.Header{Type: req.Header.Type, Flags: netlink.Multi, Sequence: req.Header.Sequence}, Data: nfgen(afUnspec)}
			return datagram(helper, done(req.Header.Sequence))
		}, present: true},
		{name: "none registered", answer: func(req netlink.Message) []byte { return datagram(done(req.Header.Sequence)) }, present: true},
		{name: "no subsystem", answer: func(req netlink.Message) []byte { return datagram(ack(req, syscall.EINVAL)) }, absent: true, errno: syscall.EINVAL},
		{name: "no subsystem, older kernels", answer: func(req netlink.Message) []byte { return datagram(ack(req, syscall.EOPNOTSUPP)) }, absent: true, errno: syscall.EOPNOTSUPP},
		{name: "other failure", answer: func(req netlink.Message) []byte { return datagram(ack(req, syscall.ENOMEM)) }, errno: syscall.ENOMEM},
		{name: "no capability", answer: func(req netlink.Message) []byte { return datagram(ack(req, syscall.EPERM)) }, errno: syscall.EPERM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &fakeSock{answer: func(msgs []netlink.Message) [][]byte { return [][]byte{tt.answer(msgs[0])} }}
			err := probeHelper(newConn(s, 0, nil))
			if tt.present != (err == nil) {
				t.Fatalf("probe: %v, want present=%v", err, tt.present)
			}
			if errors.Is(err, ErrNoHelperSubsystem) != tt.absent {
				t.Errorf("probe: %v: absent=%v, want %v", err, !tt.absent, tt.absent)
			}
			if tt.errno != 0 && !errors.Is(err, tt.errno) {
				t.Errorf("probe: %v does not wrap %v", err, tt.errno)
			}
			req := s.sent[0][0]
			if req.Header.Type != netlink.HeaderType(9<<8|1) || req.Header.Flags&netlink.Dump != netlink.Dump {
				t.Errorf("request type %#x flags %v, want a CTHELPER GET dump (0x901)", req.Header.Type, req.Header.Flags)
			}
		})
	}
}
