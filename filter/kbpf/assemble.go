package kbpf

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// The program is built with symbolic jump targets (labels) and laid out at
// the end, because a classic BPF conditional jump reaches at most 255
// instructions ahead: a branch that goes further is rewritten as a short
// branch to an unconditional jump (32-bit offset) placed right after it,
// and the layout is redone until every branch fits. Rewriting only grows
// the program, so this ends; branches that fit keep the one-instruction
// form libnetfilter_conntrack emits.

// label names a position in the program; noLabel is "the next
// instruction".
type label int

const noLabel label = -1

// node is one instruction. cond: a JEQ against val, going to jt when equal
// and jf otherwise. jump: an unconditional jump to to. Otherwise ins.
type node struct {
	ins    bpf.Instruction
	cond   bool
	val    uint32
	jt, jf label
	jump   bool
	to     label
}

type compiler struct {
	legacy bool
	nodes  []node
	labels []int // label -> index in nodes
}

func (c *compiler) newLabel() label {
	c.labels = append(c.labels, -1)
	return label(len(c.labels) - 1)
}

func (c *compiler) mark(l label) { c.labels[l] = len(c.nodes) }

func (c *compiler) emit(ins bpf.Instruction) { c.nodes = append(c.nodes, node{ins: ins}) }

func (c *compiler) jeq(val uint32, jt, jf label) {
	c.nodes = append(c.nodes, node{cond: true, val: val, jt: jt, jf: jf})
}

func (c *compiler) ja(to label) { c.nodes = append(c.nodes, node{jump: true, to: to}) }

func (c *compiler) ret(v uint32) { c.emit(bpf.RetConstant{Val: v}) }

// assemble lays the nodes out and resolves the labels.
func (c *compiler) assemble() ([]bpf.Instruction, error) {
	n := len(c.nodes)
	longT := make([]bool, n) // the jt branch goes through a long jump
	longF := make([]bool, n)
	size := func(i int) int {
		s := 1
		if longT[i] {
			s++
		}
		if longF[i] {
			s++
		}
		return s
	}
	pos := make([]int, n+1)
	layout := func() {
		for i := range n {
			pos[i+1] = pos[i] + size(i)
		}
	}
	// target is the position a branch of node i goes to.
	target := func(i int, l label) int {
		if l == noLabel {
			return pos[i+1]
		}
		return pos[c.labels[l]]
	}
	for {
		layout()
		grown := false
		for i, nd := range c.nodes {
			if !nd.cond {
				continue
			}
			if !longT[i] && target(i, nd.jt)-pos[i]-1 > 255 {
				longT[i], grown = true, true
			}
			if !longF[i] && target(i, nd.jf)-pos[i]-1 > 255 {
				longF[i], grown = true, true
			}
		}
		if !grown {
			break
		}
	}

	prog := make([]bpf.Instruction, 0, pos[n])
	for i, nd := range c.nodes {
		switch {
		case nd.jump:
			off := target(i, nd.to) - pos[i] - 1
			if off < 0 {
				return nil, fmt.Errorf("internal error: backward jump at %d", pos[i])
			}
			prog = append(prog, bpf.Jump{Skip: uint32(off)})
		case nd.cond:
			// Layout: the JEQ, then the long jump for jt, then the one
			// for jf, then the next node.
			at := pos[i]
			skip := func(l label, long bool, slot int) (uint8, error) {
				if long {
					return uint8(slot), nil
				}
				off := target(i, l) - at - 1
				if off < 0 || off > 255 {
					return 0, fmt.Errorf("internal error: branch of %d at %d", off, at)
				}
				return uint8(off), nil
			}
			jt, err := skip(nd.jt, longT[i], 0)
			if err != nil {
				return nil, err
			}
			slotF := 0
			if longT[i] {
				slotF = 1
			}
			jf, err := skip(nd.jf, longF[i], slotF)
			if err != nil {
				return nil, err
			}
			prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: nd.val, SkipTrue: jt, SkipFalse: jf})
			if longT[i] {
				prog = append(prog, bpf.Jump{Skip: uint32(target(i, nd.jt) - (at + 1) - 1)})
			}
			if longF[i] {
				prog = append(prog, bpf.Jump{Skip: uint32(target(i, nd.jf) - (at + 1 + slotF) - 1)})
			}
		default:
			prog = append(prog, nd.ins)
		}
	}
	return prog, nil
}
