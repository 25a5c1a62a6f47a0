package dnf

import (
	"encoding/xml"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// Cache layouts, by the package manager that writes them.
const (
	SourceDNF  = "dnf-cache"  // /var/cache/dnf/<repoid>-<hash>/repodata/
	SourceDNF5 = "dnf5-cache" // /var/cache/libdnf5/<repoid>-<hash>/repodata/
	SourceYum  = "yum-cache"  // /var/cache/yum/<arch>/<releasever>/<repoid>/
)

// repoCache is the metadata cache of one repo.
type repoCache struct {
	Repo     string
	Source   string
	Dir      string // the repo's cache directory
	Repomd   string // its repomd.xml
	Modified time.Time
}

// isCacheSuffix: dnf names a repo's cache "<repoid>-" and 16 hex digits of
// a hash of its URL.
func isCacheSuffix(s string) bool {
	if len(s) != 16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// findCaches returns the newest cache of each repo id in ids. When a repo's
// URL changed, dnf leaves the old cache behind under another hash: the one
// refreshed last is the one dnf uses.
// dirs collects the directories searched: a new repo cache changes them.
func findCaches(root *hostfs.Root, cfg *Config, ids map[string]bool, dirs *[]string) map[string]repoCache {
	out := map[string]repoCache{}
	consider := func(c repoCache) {
		fi, err := root.Stat(c.Repomd)
		if err != nil || !fi.Mode().IsRegular() {
			return
		}
		c.Modified = fi.ModTime()
		if old, ok := out[c.Repo]; !ok || c.Modified.After(old.Modified) {
			out[c.Repo] = c
		}
	}
	hashed := func(dir, source string) {
		*dirs = append(*dirs, dir)
		names, err := root.ReadDirNames(dir)
		if err != nil {
			return
		}
		for _, n := range names {
			i := strings.LastIndexByte(n, '-')
			if i <= 0 || !isCacheSuffix(n[i+1:]) || !ids[n[:i]] {
				continue
			}
			d := path.Join(dir, n)
			consider(repoCache{Repo: n[:i], Source: source, Dir: d, Repomd: path.Join(d, "repodata/repomd.xml")})
		}
	}
	hashed("/var/cache/dnf", SourceDNF)
	hashed("/var/cache/libdnf5", SourceDNF5)
	yum := func(pattern string) {
		*dirs = append(*dirs, "/var/cache/yum")
		found, err := root.Glob(pattern)
		if err != nil {
			return
		}
		for _, d := range found {
			*dirs = append(*dirs, d)
			for id := range ids {
				consider(repoCache{Repo: id, Source: SourceYum, Dir: path.Join(d, id), Repomd: path.Join(d, id, "repomd.xml")})
			}
		}
	}
	yum("/var/cache/yum/*/*")
	for _, cd := range cfg.CacheDirs {
		// yum's cachedir has $basearch/$releasever components: any value.
		parts := strings.Split(path.Clean("/"+cd), "/")
		for i, p := range parts {
			if strings.Contains(p, "$") {
				parts[i] = "*"
			}
		}
		pat := strings.Join(parts, "/")
		if strings.Contains(pat, "*") {
			yum(pat)
			continue
		}
		src := SourceDNF
		if strings.Contains(pat, "yum") {
			src = SourceYum
			yum(pat)
		}
		hashed(pat, src)
	}
	return out
}

// repomd is the index of a repo's metadata files.
type repomd struct {
	Data []struct {
		Type     string `xml:"type,attr"`
		Location struct {
			Href string `xml:"href,attr"`
		} `xml:"location"`
	} `xml:"data"`
}

// metadataFile finds the cached file of one metadata type (primary,
// primary_db, updateinfo). dnf keeps the href's path under the cache
// directory; yum keeps the base name, and a decompressed copy of sqlite
// databases ("gen/primary_db.sqlite", or the name without the suffix).
func metadataFile(root *hostfs.Root, c repoCache, md *repomd, typ string) (string, fs.FileInfo, bool) {
	for _, d := range md.Data {
		if d.Type != typ || d.Location.Href == "" {
			continue
		}
		href := path.Clean("/" + d.Location.Href)[1:]
		base := path.Base(href)
		cands := []string{path.Join(c.Dir, href), path.Join(c.Dir, base)}
		if typ == "primary_db" || strings.HasSuffix(typ, "_db") {
			plain := strings.TrimSuffix(typ, "_db") + "_db.sqlite"
			cands = append([]string{path.Join(c.Dir, "gen", plain), path.Join(c.Dir, stripCompression(base))}, cands...)
		}
		if typ == "updateinfo" {
			cands = append(cands, path.Join(c.Dir, "gen", "updateinfo.xml"))
		}
		for _, p := range cands {
			if fi, err := root.Stat(p); err == nil && fi.Mode().IsRegular() {
				return p, fi, true
			}
		}
	}
	return "", nil, false
}

func stripCompression(name string) string {
	for _, ext := range []string{".gz", ".xz", ".zst", ".bz2"} {
		if s, ok := strings.CutSuffix(name, ext); ok {
			return s
		}
	}
	return name
}

func readRepomd(root *hostfs.Root, p string) (*repomd, error) {
	data, err := root.ReadFileLimit(p, 4<<20)
	if err != nil {
		return nil, err
	}
	var md repomd
	if err := xml.Unmarshal(data, &md); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if len(md.Data) == 0 {
		return nil, fmt.Errorf("%s: no metadata files listed", p)
	}
	return &md, nil
}
