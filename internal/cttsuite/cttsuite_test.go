package cttsuite

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The suite's addresses move into the documentation ranges, keeping the
// host part and the subnets apart, and an address with no rule stops the
// run (with where it is) rather than sending traffic to it.
func TestRewriteAddrs(t *testing.T) {
	tests := []struct {
		name, in, want, err string
	}{
		{"client side with prefix", "ip -net ns1 addr add 192.168.10.2/24 dev veth0", "ip -net ns1 addr add 198.51.100.2/25 dev veth0", ""},
		{"server side route", "ro add 10.0.1.0/24 via 192.168.10.1 dev veth0", "ro add 203.0.113.0/24 via 198.51.100.1 dev veth0", ""},
		{"sync link in a config", "IPv4_Destination_Address 192.168.100.3", "IPv4_Destination_Address 198.51.100.131", ""},
		{"ping target", "ping -c1 10.0.1.2 >/dev/null", "ping -c1 203.0.113.2 >/dev/null", ""},
		{"loopback and group kept", "IPv4_address 225.0.0.50\nIPv4_interface 127.0.0.1", "IPv4_address 225.0.0.50\nIPv4_interface 127.0.0.1", ""},
		{"not addresses", "version 1.4.7, HashSize 8192, sleep 0.5", "version 1.4.7, HashSize 8192, sleep 0.5", ""},
		{"unknown address", "a\n  ping 8.8.8.8", "", "2:8: address 8.8.8.8 is in none"},
		{"other private range", "10.0.10.1", "", "1:1: address 10.0.10.1 is in none"},
		{"other prefix length", "192.168.10.0/16", "", "1:1: 192.168.10.0/16: a prefix length other than"},
		{"host beyond the half", "192.168.100.200", "", "does not fit in 198.51.100.128/25"},
		{"not an address", "999.1.1.1", "", "1:1: \"999.1.1.1\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rewriteAddrs(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("rewriteAddrs(%q) = %q, %v; want error containing %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("rewriteAddrs(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// An edit whose text is not in the suite (a changed release) fails, naming
// the file, instead of running the suite unadapted.
func TestAdaptEditMustMatch(t *testing.T) {
	_, err := adapt("scenarios/basic/network-setup.sh", []byte("#!/bin/bash\nip netns add other\n"))
	if err == nil || !strings.Contains(err.Error(), "scenarios/basic/network-setup.sh: want") {
		t.Fatalf("got %v, want an error naming the file and the missing text", err)
	}
	got, err := adapt("scenarios/basic/network-setup.sh", []byte("\tip netns add nsr2\n\tip -net ns2 addr add 10.0.1.2/24 dev veth0\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"net.netfilter.nf_conntrack_events=1", "203.0.113.2/24"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("adapted script lacks %q:\n%s", want, got)
		}
	}
}

func tarOf(t *testing.T, entries ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		body := h.Linkname
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
			h.Linkname = ""
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// reg is a regular file entry; its body rides in Linkname until tarOf.
func reg(name, body string) *tar.Header {
	return &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Linkname: body}
}

// Only files with the pinned checksums are taken from a tarball; anything
// else about it is an error that says which entry.
func TestTarFiles(t *testing.T) {
	manifest := []file{{path: "a.yaml", sha256: sum([]byte("a: 1\n"))}, {path: "sub/b.sh", sha256: sum([]byte("echo b\n"))}}
	const p = "conntrack-tools-x/tests/conntrackd/"
	tests := []struct {
		name    string
		entries []*tar.Header
		err     string
	}{
		{"both", []*tar.Header{reg("conntrack-tools-x/README", "r"), reg(p+"a.yaml", "a: 1\n"), reg(p+"sub/b.sh", "echo b\n")}, ""},
		{"changed file", []*tar.Header{reg(p+"a.yaml", "a: 2\n"), reg(p+"sub/b.sh", "echo b\n")}, p + "a.yaml: SHA-256"},
		{"missing file", []*tar.Header{reg(p+"a.yaml", "a: 1\n")}, "the tarball has no " + p + "sub/b.sh"},
		{"symlink", []*tar.Header{{Name: p + "a.yaml", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}}, "not a regular file"},
		{"twice", []*tar.Header{reg(p+"a.yaml", "a: 1\n"), reg(p+"a.yaml", "a: 1\n")}, "twice"},
		{"too big", []*tar.Header{reg(p+"a.yaml", strings.Repeat("x", maxFile+1))}, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tarFiles(bytes.NewReader(tarOf(t, tt.entries...)), "conntrack-tools-x/", manifest)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want error containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got["a.yaml"]) != "a: 1\n" || string(got["sub/b.sh"]) != "echo b\n" {
				t.Fatalf("got %q", got)
			}
		})
	}
	if _, err := tarFiles(strings.NewReader("not a tar stream, long enough to fill a header block? no"), "", manifest); err == nil {
		t.Fatal("garbage read as a tarball")
	}
}

func TestTreeFiles(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, suiteDir)
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("a: 1\n"), 0o644)
	if _, err := treeFiles(root, []file{{path: "a.yaml", sha256: sum([]byte("a: 1\n"))}}); err != nil {
		t.Fatal(err)
	}
	_, err := treeFiles(root, []file{{path: "a.yaml", sha256: sum([]byte("a: 2\n"))}})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "a.yaml")+": SHA-256") {
		t.Fatalf("got %v, want a checksum error naming the file", err)
	}
}

func TestTestNames(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		err      string
	}{
		{"two", "- name: a\n  scenario: s\n  test: [x]\n- name: b\n  scenario: s\n  test: [y]\n", []string{"a", "b"}, ""},
		{"nameless", "- scenario: s\n", nil, "test 1 has no name"},
		{"empty", "", nil, "no tests"},
		{"not a list", "name: a\n", nil, "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := testNames([]byte(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, %v; want error containing %q", got, err, tt.err)
				}
				return
			}
			if err != nil || strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// A verified copy named by SourceEnv is adapted into the destination and
// kept in the cache, which serves the next run without the copy; a cache
// file that no longer verifies is not used.
func TestGetFromSourceThenCache(t *testing.T) {
	suite := map[string]string{
		"tests.yaml":                       "- name: t1\n  scenario: s\n  test: [\"ping -c1 10.0.1.2\"]\n",
		"scenarios/basic/network-setup.sh": "\tip netns add nsr2\n\tip -net nsr2 addr add 192.168.100.3/24 dev veth0\n",
	}
	saved, savedURL := files, tarballURL
	t.Cleanup(func() { files, tarballURL = saved, savedURL })
	// Nothing listens there: the download fails at once.
	tarballURL = "http://127.0.0.1:1/conntrack-tools.tar.bz2"
	files = nil
	src := t.TempDir()
	for p, body := range suite {
		files = append(files, file{path: p, sha256: sum([]byte(body)), exec: strings.HasSuffix(p, ".sh")})
		fp := filepath.Join(src, suiteDir, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(fp), 0o755)
		os.WriteFile(fp, []byte(body), 0o644)
	}
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv("HOME", cache)

	t.Setenv(SourceEnv, src)
	s, err := Get(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if s.From != src || strings.Join(s.Tests, ",") != "t1" {
		t.Fatalf("got %+v, want tests [t1] from %s", s, src)
	}
	b, _ := os.ReadFile(filepath.Join(s.Dir, "tests.yaml"))
	if !strings.Contains(string(b), "ping -c1 203.0.113.2") {
		t.Errorf("tests.yaml not adapted:\n%s", b)
	}
	if st, err := os.Stat(filepath.Join(s.Dir, "scenarios/basic/network-setup.sh")); err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("network-setup.sh: %v, %v; want an executable file", st, err)
	}

	t.Setenv(SourceEnv, "")
	s, err = Get(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if s.From != cacheDir() || !strings.HasPrefix(s.From, cache) {
		t.Fatalf("second run from %s, want the cache under %s", s.From, cache)
	}

	// Altered, the cache is ignored: what is left is the download.
	os.WriteFile(filepath.Join(cacheDir(), suiteDir, "tests.yaml"), []byte("- name: other\n"), 0o644)
	if s, err := Get(context.Background(), t.TempDir()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %+v, %v; want ErrUnavailable, the altered cache unused", s, err)
	}
}

// A download is taken only with the pinned tarball's checksum, and a
// failed one says what the server answered.
func TestDownload(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("not the release"))
	}))
	defer srv.Close()
	saved := tarballURL
	t.Cleanup(func() { tarballURL = saved })
	for path, want := range map[string]string{"/other": "SHA-256 " + sum([]byte("not the release")) + ", want " + TarballSHA256, "/missing": "404 Not Found"} {
		tarballURL = srv.URL + path
		if _, err := download(context.Background()); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error containing %q", path, err, want)
		}
	}
}
