// Package cttsuite obtains conntrack-tools' own conntrackd test suite
// (tests/conntrackd in the conntrack-tools sources: a Python runner,
// conntrackd-tests.py, over scenarios.yaml and tests.yaml) at a pinned
// release, verifies it file by file, and adapts it to run in a sandbox of
// this machine's: its addresses are rewritten to the documentation ranges.
//
// The suite is never copied into this repository: it is fetched (or read
// from a copy the caller names) into a temporary directory at test time.
// cmd/ctsync's TestConntrackToolsSuite runs it against conntrackd and
// against ctsync invoked as conntrackd.
package cttsuite

import (
	"archive/tar"
	"bytes"
	"compress/bzip2"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Version is the conntrack-tools release whose suite this is: the release
// of the conntrackd that ctsync's legacy command line follows (1.4.7, also
// Debian bookworm's). tests/conntrackd first shipped in 1.4.7; later
// releases change none of its tests (1.4.9 and later only bring up lo in
// one test and make the runner's exit status report failures, which the
// sandbox and Run's parsing of the runner's output stand in for).
const Version = "1.4.7"

// TarballURL is the release tarball (make dist, which includes tests/).
const TarballURL = "https://www.netfilter.org/projects/conntrack-tools/files/conntrack-tools-" + Version + ".tar.bz2"

// tarballURL is TarballURL, but for tests, which must not download.
var tarballURL = TarballURL

// TarballSHA256 is the tarball's checksum, as Debian's signed source
// package of 1:1.4.7-1 lists it for the same file
// (conntrack-tools_1.4.7.orig.tar.bz2, 539688 bytes).
const TarballSHA256 = "099debcf57e81690ced57f516b493588a73518f48c14d656f823b29b4fc24b5d"

// SourceEnv names a copy of the sources to use instead of the cache or a
// download: the release tarball, or a directory holding conntrack-tools'
// source tree (a checkout of the tag conntrack-tools-1.4.7 will do).
// Either way each file of the suite must have its pinned checksum.
const SourceEnv = "CTSYNC_CTTOOLS_SRC"

// maxTarball bounds a download: the release is about 530 KiB.
const maxTarball = 4 << 20

// maxUnpacked bounds what is read out of the compressed tarball, so a
// corrupt or hostile one cannot fill memory or disk.
const maxUnpacked = 32 << 20

// maxFile bounds one file of the suite (the largest is about 7 KiB).
const maxFile = 64 << 10

// suiteDir is where the suite lives in the sources.
const suiteDir = "tests/conntrackd"

// file is one file of the suite that the runner uses, with its SHA-256 at
// Version. The netns/ directory is left out: it holds a manual start/stop
// script with no assertions, which the runner does not run.
type file struct {
	path   string // relative to tests/conntrackd
	sha256 string
	exec   bool // run as a program: the runner, and a script a scenario runs by path
}

var files = []file{
	{"conntrackd-tests.py", "c0ca9cbc81ee243322d7bbe2d84b7e6270def79a8063a2f5c877d4b41b873cd1", true},
	{"env.yaml", "4b6748c03a127f7b2661ee2ad1ef30f5720a6b1842d4719a502f2c052fe622dc", false},
	{"scenarios.yaml", "5397ced2fe518a445c553b558cfea2801fa326c245fbf1f1c1771e3987fa9cfc", false},
	{"scenarios/basic/network-setup.sh", "e52895c5cdb429ab7a65be45e41c4dfaf633bc3626bf372ecaee25b68dc03784", true},
	{"tests.yaml", "0288fb103beaa0da2de31b9ed5cfec0378819c61ea6f82e3ca591d57ac0451ba", false},
}

// Runner is the runner's file name in Suite.Dir.
const Runner = "conntrackd-tests.py"

// ErrUnavailable is returned (wrapped) when no copy of the suite could be
// had: no SourceEnv, nothing cached, and the download failed. A copy that
// was had but does not match its checksums is another error.
var ErrUnavailable = errors.New("conntrack-tools' test suite is not available")

// Suite is the adapted suite, unpacked.
type Suite struct {
	Dir   string   // holds the runner, run from here
	Tests []string // the names in tests.yaml, in its order
	From  string   // where it came from, for messages
}

// Get obtains the suite (SourceEnv, else the cache, else TarballURL,
// then cached), verifies every file, writes the adapted suite into dst and
// returns it.
func Get(ctx context.Context, dst string) (*Suite, error) {
	contents, from, err := obtain(ctx)
	if err != nil {
		return nil, err
	}
	return write(contents, from, dst)
}

// obtain returns the verified original files, by path.
func obtain(ctx context.Context) (map[string][]byte, string, error) {
	if src := os.Getenv(SourceEnv); src != "" {
		st, err := os.Stat(src)
		if err != nil {
			return nil, "", fmt.Errorf("%s=%s: %w", SourceEnv, src, err)
		}
		var c map[string][]byte
		if st.IsDir() {
			c, err = fromTree(src)
		} else {
			c, err = tarballFile(src)
		}
		if err != nil {
			return nil, "", err
		}
		if dir := cacheDir(); dir != "" {
			// Verified: later runs need neither this copy nor the
			// network.
			_ = writeTree(dir, c)
		}
		return c, src, nil
	}
	cache := cacheDir()
	if cache != "" {
		// A cache that is absent, partial or altered is as good as none.
		if c, err := fromTree(cache); err == nil {
			return c, cache, nil
		}
	}
	b, err := download(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v (no cache in %s; set %s to a copy of conntrack-tools %s's release tarball or source tree)", ErrUnavailable, err, cache, SourceEnv, Version)
	}
	c, err := fromTarball(bytes.NewReader(b))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", tarballURL, err)
	}
	if cache != "" {
		// A cache is a convenience: failing to write it changes nothing.
		_ = writeTree(cache, c)
	}
	return c, tarballURL, nil
}

// cacheDir is where the verified files of a download are kept, as a
// source tree, so that each run does not fetch them again; empty when
// the machine has no cache directory. A copy put there by hand (a
// checkout of the tag) serves as well: each file is verified on use.
func cacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "ctsync", "conntrack-tools-"+Version)
}

// writeTree writes the suite's original files under root, as in the
// source tree.
func writeTree(root string, c map[string][]byte) error {
	for _, f := range files {
		p := filepath.Join(root, suiteDir, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, c[f.path], 0o644); err != nil {
			return err
		}
	}
	return nil
}

func download(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tarballURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", tarballURL, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxTarball+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", tarballURL, err)
	}
	if len(b) > maxTarball {
		return nil, fmt.Errorf("GET %s: more than %d bytes", tarballURL, maxTarball)
	}
	// Checked here, not only file by file: the pinned release is the
	// tarball, and a mirror serving another one is worth saying so.
	if got := sum(b); got != TarballSHA256 {
		return nil, fmt.Errorf("GET %s: SHA-256 %s, want %s", tarballURL, got, TarballSHA256)
	}
	return b, nil
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// fromTree reads the suite's files from a source tree.
func fromTree(root string) (map[string][]byte, error) {
	return treeFiles(root, files)
}

// treeFiles reads and verifies the files of manifest under root.
func treeFiles(root string, manifest []file) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, f := range manifest {
		p := filepath.Join(root, suiteDir, filepath.FromSlash(f.path))
		b, err := readLimited(p)
		if err != nil {
			return nil, err
		}
		if err := verify(f, b); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out[f.path] = b
	}
	return out, nil
}

func readLimited(p string) ([]byte, error) {
	fh, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if len(b) > maxFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", p, maxFile)
	}
	return b, nil
}

func tarballFile(p string) (map[string][]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := fromTarball(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return c, nil
}

// fromTarball reads the suite's files out of a bzip2-compressed release
// tarball, whose entries are under conntrack-tools-VERSION/.
func fromTarball(r io.Reader) (map[string][]byte, error) {
	return tarFiles(bzip2.NewReader(r), "conntrack-tools-"+Version+"/", files)
}

// tarFiles reads and verifies the files of manifest out of a tar stream,
// where the source tree is under prefix.
func tarFiles(r io.Reader, prefix string, manifest []file) (map[string][]byte, error) {
	want := map[string]file{}
	for _, f := range manifest {
		want[prefix+suiteDir+"/"+f.path] = f
	}
	out := map[string][]byte{}
	tr := tar.NewReader(io.LimitReader(r, maxUnpacked))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the tarball: %w", err)
		}
		f, ok := want[strings.TrimPrefix(h.Name, "./")]
		if !ok {
			continue
		}
		if _, dup := out[f.path]; dup {
			return nil, fmt.Errorf("%s: twice in the tarball", h.Name)
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("%s: not a regular file in the tarball", h.Name)
		}
		if h.Size > maxFile {
			return nil, fmt.Errorf("%s: %d bytes, more than %d", h.Name, h.Size, maxFile)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", h.Name, err)
		}
		if err := verify(f, b); err != nil {
			return nil, fmt.Errorf("%s: %w", h.Name, err)
		}
		out[f.path] = b
	}
	for _, f := range manifest {
		if _, ok := out[f.path]; !ok {
			return nil, fmt.Errorf("the tarball has no %s%s/%s", prefix, suiteDir, f.path)
		}
	}
	return out, nil
}

func verify(f file, b []byte) error {
	if got := sum(b); got != f.sha256 {
		return fmt.Errorf("SHA-256 %s, want %s (conntrack-tools %s's)", got, f.sha256, Version)
	}
	return nil
}

// write adapts the verified files and writes them under dst.
func write(contents map[string][]byte, from, dst string) (*Suite, error) {
	s := &Suite{Dir: dst, From: from}
	for _, f := range files {
		b, err := adapt(f.path, contents[f.path])
		if err != nil {
			return nil, fmt.Errorf("adapting the suite: %w", err)
		}
		p := filepath.Join(dst, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		mode := os.FileMode(0o644)
		if f.exec {
			mode = 0o755
		}
		if err := os.WriteFile(p, b, mode); err != nil {
			return nil, err
		}
		if f.path == "tests.yaml" {
			if s.Tests, err = testNames(b); err != nil {
				return nil, fmt.Errorf("%s: %w", f.path, err)
			}
		}
	}
	return s, nil
}

// testNames lists the tests in tests.yaml, as the runner reads it: a list
// of maps with a name.
func testNames(b []byte) ([]string, error) {
	var defs []struct {
		Name string `yaml:"name"`
	}
	if err := yaml.Unmarshal(b, &defs); err != nil {
		return nil, err
	}
	var names []string
	for i, d := range defs {
		if d.Name == "" {
			return nil, fmt.Errorf("test %d has no name", i+1)
		}
		names = append(names, d.Name)
	}
	if len(names) == 0 {
		return nil, errors.New("no tests")
	}
	return names, nil
}
