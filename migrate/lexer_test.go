package migrate

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLexer(t *testing.T) {
	type tk struct {
		Kind TokenKind
		Text string
		Line int
		Col  int
	}
	tests := []struct {
		name string
		src  string
		want []tk
	}{
		{"keyword is case-sensitive", "General general", []tk{{TokKeyword, "General", 1, 1}, {TokWord, "general", 1, 9}}},
		{"longer word beats keyword", "HashSizeX UDP", []tk{{TokWord, "HashSizeX", 1, 1}, {TokKeyword, "UDP", 1, 11}}},
		{"booleans any case and pipe", "ON oFf Yes no |n || one", []tk{{TokBool, "ON", 1, 1}, {TokBool, "oFf", 1, 4}, {TokBool, "Yes", 1, 8}, {TokBool, "no", 1, 12}, {TokBool, "|n", 1, 15}, {TokBool, "||", 1, 18}, {TokWord, "one", 1, 21}}},
		{"numbers", "12 -5 +3 0x10", []tk{{TokNumber, "12", 1, 1}, {TokSigned, "-5", 1, 4}, {TokSigned, "+3", 1, 7}, {TokNumber, "0", 1, 10}, {TokWord, "x10", 1, 11}}},
		{"ipv4 without range check", "999.0.0.50 1.2.3.0/24", []tk{{TokIPv4, "999.0.0.50", 1, 1}, {TokIPv4, "1.2.3.0/24", 1, 12}}},
		{"ipv6 and hex words", "ff02::1 fe80::1/64 cafe 12ab decade 1234 eth0", []tk{{TokIPv6, "ff02::1", 1, 1}, {TokIPv6, "fe80::1/64", 1, 9}, {TokIPv6, "cafe", 1, 20}, {TokIPv6, "12ab", 1, 25}, {TokWord, "decade", 1, 30}, {TokNumber, "1234", 1, 37}, {TokWord, "eth0", 1, 42}}},
		{"zone id splits", "fe80::1%eth0", []tk{{TokIPv6, "fe80::1", 1, 1}, {TokChar, "%", 1, 8}, {TokWord, "eth0", 1, 9}}},
		{"path swallows tab hash brace", "/x.log\t# z\n/a}b /c\"", []tk{{TokPath, "/x.log\t#", 1, 1}, {TokWord, "z", 1, 10}, {TokPath, "/a}b", 2, 1}, {TokPath, "/c", 2, 6}, {TokChar, "\"", 2, 8}}},
		{"modes", "ftfw NoTrack alarm NACK PERSISTENT persistenT persistent", []tk{{TokMode, "ftfw", 1, 1}, {TokMode, "NoTrack", 1, 6}, {TokMode, "alarm", 1, 14}, {TokMode, "NACK", 1, 20}, {TokMode, "PERSISTENT", 1, 25}, {TokMode, "persistenT", 1, 36}, {TokWord, "persistent", 1, 47}}},
		{"comments and CRLF", "X # x\r\nY", []tk{{TokWord, "X", 1, 1}, {TokComment, "# x\r", 1, 3}, {TokWord, "Y", 2, 1}}},
		{"braces and other chars", "General{;}", []tk{{TokKeyword, "General", 1, 1}, {TokLBrace, "{", 1, 8}, {TokChar, ";", 1, 9}, {TokRBrace, "}", 1, 10}}},
		{"template", "Port {{ p }}\n{% if x %}", []tk{{TokKeyword, "Port", 1, 1}, {TokTemplate, "{{ p }}", 1, 6}, {TokTemplate, "{% if x %}", 2, 1}}},
		{"closing braces are not a template", "}}", []tk{{TokRBrace, "}", 1, 1}, {TokRBrace, "}", 1, 2}}},
		{"four pipes are a mode", "||||", []tk{{TokMode, "||||", 1, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []tk
			for _, x := range Tokens("f", []byte(tt.src)) {
				got = append(got, tk{x.Kind, x.Text, x.Pos.Line, x.Pos.Column})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("tokens (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTokenValues(t *testing.T) {
	tests := []struct {
		name string
		tok  Token
		want any
	}{
		{"on", Token{Kind: TokBool, Text: "On"}, true},
		{"pipes are true", Token{Kind: TokBool, Text: "||"}, true},
		{"o|f is off", Token{Kind: TokBool, Text: "o|f"}, false},
		{"no", Token{Kind: TokBool, Text: "NO"}, false},
		{"atoi wraps", Token{Kind: TokNumber, Text: "4294967296"}, int64(0)},
		{"atoi saturates", Token{Kind: TokNumber, Text: "99999999999999999999"}, int64(-1)},
		{"nack", Token{Kind: TokMode, Text: "Nack"}, "FTFW old"},
		{"persistenT", Token{Kind: TokMode, Text: "persistenT"}, "ALARM old"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got any
			switch tt.tok.Kind {
			case TokBool:
				got, _ = tt.tok.Bool()
			case TokNumber:
				got, _ = tt.tok.Uint()
			case TokMode:
				m, old := tt.tok.Mode()
				if old {
					m += " old"
				}
				got = m
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
