package apk

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
	"github.com/nodeguard/nodeguard/probes/packages/osv"
)

// Where apk keeps its configuration and its index cache. apk stores the
// indexes in /etc/apk/cache when that directory (usually a symlink) exists,
// else in /var/cache/apk.
const (
	RepositoriesPath = "/etc/apk/repositories"
	WorldPath        = "/etc/apk/world"
	ArchPath         = "/etc/apk/arch"
	cacheLink        = "/etc/apk/cache"
	CacheDir         = "/var/cache/apk"
	// maxIndex bounds a decompressed APKINDEX (Alpine's community index is
	// about 10 MiB).
	maxIndex = 128 << 20
)

// Repository is one line of /etc/apk/repositories.
type Repository struct {
	URL string
	Tag string // "@edge" lines: only packages pinned to the tag come from it
}

// CacheIndexName is the name apk gives a remote repository's cached index:
// "APKINDEX." and the first 4 bytes of the SHA-1 of the URL, in hex.
func CacheIndexName(url string) string {
	sum := sha1.Sum([]byte(url))
	return "APKINDEX." + hex.EncodeToString(sum[:4]) + ".tar.gz"
}

// ParseRepositories reads /etc/apk/repositories: one URL a line, an
// optional "@tag " before it, '#' comments.
func ParseRepositories(data []byte) ([]Repository, error) {
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, errors.New("binary data, not a repositories list")
	}
	var out []Repository
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		r := Repository{}
		if line[0] == '@' {
			tag, rest, ok := strings.Cut(line, " ")
			if !ok {
				return nil, fmt.Errorf("%q: tag without a URL", line)
			}
			r.Tag, line = tag, strings.TrimSpace(rest)
		}
		r.URL = line
		out = append(out, r)
	}
	return out, nil
}

// Update is an installed package with a newer version in a repository.
type Update struct {
	Name, Arch, Installed, Candidate, Repo string
}

// Problem is bad input that was skipped; File names it.
type Problem struct {
	File string
	Err  error
}

func (p Problem) Error() string { return p.File + ": " + p.Err.Error() }

// Result is what the cached indexes say about pending updates.
type Result struct {
	Repos    []string // repositories whose index was read
	Uncached []string // configured repositories without a cached index
	Updates  []Update
	Problems []Problem
	Updated  time.Time // the oldest index read
	Inputs   []string
}

// Known reports whether any configured repository's index was read.
func (r *Result) Known() bool { return len(r.Repos) > 0 }

// readIndex returns the packages of an APKINDEX.tar.gz: a signature and
// the index as concatenated gzip streams of one tar archive.
func readIndex(r io.Reader) ([]Package, error) {
	z, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	defer z.Close()
	tr := tar.NewReader(z)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, errors.New("no APKINDEX in the archive")
		}
		if err != nil {
			return nil, fmt.Errorf("tar: %w", err)
		}
		if h.Name != "APKINDEX" {
			continue
		}
		if h.Size > maxIndex {
			return nil, fmt.Errorf("APKINDEX of %d bytes is larger than %d MiB", h.Size, maxIndex>>20)
		}
		return Parse(tr)
	}
}

// worldTags maps the packages /etc/apk/world pins to a repository tag
// ("name@edge") to that tag.
func worldTags(data []byte) map[string]string {
	out := map[string]string{}
	for _, f := range strings.Fields(string(data)) {
		name, tag, ok := strings.Cut(f, "@")
		if !ok {
			continue
		}
		if i := strings.IndexAny(tag, "<>=~"); i >= 0 {
			tag = tag[:i]
		}
		if i := strings.IndexAny(name, "<>=~"); i >= 0 {
			name = name[:i]
		}
		out[name] = "@" + tag
	}
	return out
}

// ScanUpdates compares installed with the indexes apk update left in its
// cache, as `apk version -l '<'` would: the candidate is the highest
// version of the name among the repositories the package may come from
// (untagged ones, and a tagged one only for packages pinned to its tag).
func ScanUpdates(root *hostfs.Root, installed []Package) *Result {
	res := &Result{}
	data, err := root.ReadFileLimit(RepositoriesPath, 1<<20)
	if err != nil {
		if root.Exists(RepositoriesPath) {
			res.Problems = append(res.Problems, Problem{RepositoriesPath, err})
		}
		return res
	}
	res.Inputs = append(res.Inputs, RepositoriesPath)
	repos, err := ParseRepositories(data)
	if err != nil {
		res.Problems = append(res.Problems, Problem{RepositoriesPath, err})
		return res
	}
	tags := map[string]string{}
	if w, err := root.ReadFileLimit(WorldPath, 4<<20); err == nil {
		tags = worldTags(w)
	}
	res.Inputs = append(res.Inputs, WorldPath)
	arch := ""
	if a, err := root.ReadFileLimit(ArchPath, 4096); err == nil {
		arch = strings.TrimSpace(string(a))
	}
	cache := CacheDir
	if fi, err := root.Stat(cacheLink); err == nil && fi.IsDir() {
		cache = cacheLink
	}
	res.Inputs = append(res.Inputs, cache, cacheLink)
	names := map[string]bool{}
	for _, p := range installed {
		names[p.Name] = true
	}
	type cand struct{ version, repo string }
	best := map[string]cand{}
	for _, r := range repos {
		var p string
		switch {
		case strings.HasPrefix(r.URL, "/") || strings.HasPrefix(r.URL, "file://"):
			// A local repository is read in place: <dir>/<arch>/APKINDEX.tar.gz.
			if arch == "" {
				res.Uncached = append(res.Uncached, r.URL)
				continue
			}
			p = path.Join(strings.TrimPrefix(r.URL, "file://"), arch, "APKINDEX.tar.gz")
		default:
			p = path.Join(cache, CacheIndexName(r.URL))
		}
		fi, err := root.Stat(p)
		if err != nil {
			res.Uncached = append(res.Uncached, r.URL)
			continue
		}
		f, err := root.Open(p)
		if err != nil {
			res.Problems = append(res.Problems, Problem{p, err})
			res.Uncached = append(res.Uncached, r.URL)
			continue
		}
		pkgs, err := readIndex(f)
		f.Close()
		if err != nil {
			res.Problems = append(res.Problems, Problem{p, fmt.Errorf("index of %s: %w", r.URL, err)})
			res.Uncached = append(res.Uncached, r.URL)
			continue
		}
		res.Inputs = append(res.Inputs, p)
		res.Repos = append(res.Repos, r.URL)
		if res.Updated.IsZero() || fi.ModTime().Before(res.Updated) {
			res.Updated = fi.ModTime()
		}
		for _, a := range pkgs {
			if !names[a.Name] || r.Tag != "" && tags[a.Name] != r.Tag {
				continue
			}
			if c, ok := best[a.Name]; !ok || osv.CompareAPK(a.Version, c.version) > 0 {
				best[a.Name] = cand{a.Version, r.URL}
			}
		}
	}
	for _, p := range installed {
		c, ok := best[p.Name]
		if ok && osv.CompareAPK(c.version, p.Version) > 0 {
			res.Updates = append(res.Updates, Update{Name: p.Name, Arch: p.Arch, Installed: p.Version, Candidate: c.version, Repo: c.repo})
		}
	}
	sort.Slice(res.Updates, func(i, j int) bool { return res.Updates[i].Name < res.Updates[j].Name })
	return res
}
