package migrate

import "github.com/ctsync/ctsync/config"

// File is a parsed legacy conntrackd.conf.
type File struct {
	Name string
	// Source is the file's text, for the snippets of diagnostics.
	Source     *config.Source
	Directives []*Directive
	// Comments holds every comment of the file in order, attached or not.
	Comments []Comment
}

// Comment is one "#" comment; Text includes the "#".
type Comment struct {
	Text string
	Pos  config.Pos
}

// Directive is a keyword with its values and, for sections, its block.
//
// Set members are child directives with Item set and Keyword empty, so a
// converter walks them like any other child:
//
//   - Protocol Accept|Ignore { TCP SCTP }: one item per name, Args = [name],
//     Path "General.Filter.Protocol[]".
//   - State Accept|Ignore { ESTABLISHED CLOSED for TCP }: one item per state
//     word (Args = [state]) and one for each "for TCP" (Args = [for, TCP]),
//     Path "General.Filter.State[]".
//   - ExpectationSync { ftp sip }: one item per helper name,
//     Path "Sync.Options.ExpectationSync[]".
//   - IgnoreProtocol { 17 udp } (removed syntax): Path "IgnoreProtocol[]".
//
// Address { IPv4_address ... } members are ordinary directives (their Path is
// a Grammar path, e.g. "General.Filter.Address.IPv4_address"). The words
// after a keyword that precede its block are Args: "Accept"/"Ignore" for
// filters, "Default" for links, "From", "Kernelspace" for Filter, the mode
// name for Mode, name/l3/l4 for Helper Type, the name for Policy.
type Directive struct {
	// Keyword as written ("Multicast", "Mode", "IPv4_address"); empty for items.
	Keyword string
	// Path is the canonical context path, the key of Grammar:
	// "General.UNIX.Path", "Sync.Mode FTFW.ResendQueueSize",
	// "Sync.Multicast.Group", "General.Filter.Address.IPv4_address",
	// "Helper.Type.Policy.ExpectMax", "IgnoreProtocol". Mode blocks use
	// the canonical mode name even when NACK or PERSISTENT was written.
	// Helper options written outside a Type block, and a Type nested in a
	// Type, get the Helper.Type paths (a quirk warning says so).
	Path     string
	Pos      config.Pos
	Args     []Token
	Block    []*Directive
	HasBlock bool
	Item     bool
	// LeadComments are the comment lines directly above the directive
	// (no blank line between); LineComment is the comment that ends the
	// directive's first line.
	LeadComments []Comment
	LineComment  *Comment
	// End is the position of the last token: the value, or the closing "}".
	End config.Pos
}

// Grammar returns the grammar entry of d (false for set items).
func (d *Directive) Grammar() (Keyword, bool) {
	if d.Item {
		return Keyword{}, false
	}
	return KeywordAt(d.Path)
}

// Walk calls fn for every directive of f, parents before children, in file
// order; it stops descending into a directive when fn returns false.
func (f *File) Walk(fn func(*Directive) bool) {
	var walk func([]*Directive)
	walk = func(ds []*Directive) {
		for _, d := range ds {
			if fn(d) {
				walk(d.Block)
			}
		}
	}
	walk(f.Directives)
}
