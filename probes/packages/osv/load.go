package osv

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/nodeguard/nodeguard/probes/model/hostfs"
)

// maxFile bounds one advisory file or zip entry; databases export one
// advisory per file, a few kB each.
const maxFile = 64 << 20

// MaxBadNames is how many malformed files a load names; the rest are counted.
const MaxBadNames = 5

// Want is the set of packages the loader keeps, by ecosystem family and
// name: only what the host has is indexed, so memory follows the host, not
// the bundle. A nil Want keeps everything.
type Want map[string]struct{}

// Add wants name in ecosystem eco (its release, "Debian:12", is ignored:
// Match checks it).
func (w Want) Add(eco, name string) { w[family(eco)+"\x00"+name] = struct{}{} }

func (w Want) has(eco, name string) bool {
	if w == nil {
		return true
	}
	_, ok := w[family(eco)+"\x00"+name]
	return ok
}

// key is the set's identity, for caches.
func (w Want) key() string {
	ks := make([]string, 0, len(w))
	for k := range w {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	h := sha256.Sum256([]byte(strings.Join(ks, "\x01")))
	return hex.EncodeToString(h[:])
}

// Load streams a bundle below root: a directory (searched
// recursively) of .json files and per-ecosystem .zip exports (all.zip,
// Debian.zip: one advisory per entry), or one such file. Each JSON file
// holds one advisory or an array of them. A malformed file is skipped and
// counted in DB.Bad; the error is only for a bundle that cannot be read at
// all.
func Load(root *hostfs.Root, p string, want Want) (*DB, error) {
	fi, err := root.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("OSV bundle: %w", err)
	}
	l := &loader{root: root, prefix: strings.TrimSuffix(root.Path(), "/"), want: want, db: &DB{byPkg: map[string][]*entry{}}}
	work := make(chan job, 64)
	var wg sync.WaitGroup
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			var buf bytes.Buffer
			for j := range work {
				l.file(j, &buf)
			}
		})
	}
	var walkErr error
	if fi.IsDir() {
		walkErr = l.walk(p, work)
	} else {
		l.dispatch(p, work)
	}
	close(work)
	wg.Wait()
	for _, c := range l.closers {
		c.Close()
	}
	if walkErr != nil {
		return nil, walkErr
	}
	return l.db, nil
}

// job is one file to read: a JSON file, or one entry of a zip archive.
type job struct {
	name string // for messages: host path, or archive path + "!" + entry
	path string
	zf   *zip.File
}

type loader struct {
	root    *hostfs.Root
	prefix  string // root's path, which messages put before a file's
	want    Want
	closers []io.Closer // zip archives, closed once the workers are done
	mu      sync.Mutex
	db      *DB
}

// walk feeds every bundle file below dir to the workers, reading each
// directory in batches.
func (l *loader) walk(dir string, work chan<- job) error {
	d, err := l.root.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("OSV bundle: %w", err)
	}
	defer d.Close()
	for {
		ents, err := d.Entries(1024)
		for _, e := range ents {
			p := path.Join(dir, e.Name())
			switch {
			case e.IsDir():
				if err := l.walk(p, work); err != nil {
					return err
				}
			case e.Type().IsRegular():
				l.dispatch(p, work)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("OSV bundle: %w", err)
		}
	}
}

func (l *loader) dispatch(p string, work chan<- job) {
	switch {
	case strings.HasSuffix(p, ".json"):
		work <- job{name: p, path: p}
	case strings.HasSuffix(p, ".zip"):
		l.zip(p, work)
	}
}

// zip feeds the archive's JSON entries to the workers. The archive stays
// open until they are done: zip.File reads through it.
func (l *loader) zip(p string, work chan<- job) {
	f, err := l.root.Open(p)
	if err != nil {
		l.bad(p, err)
		return
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		l.bad(p, err)
		return
	}
	zr, err := zip.NewReader(f, st.Size())
	if err != nil {
		f.Close()
		l.bad(p, err)
		return
	}
	// The workers read entries through f until the whole load ends.
	l.closers = append(l.closers, f)
	for _, zf := range zr.File {
		if !zf.FileInfo().IsDir() && strings.HasSuffix(zf.Name, ".json") {
			work <- job{name: p + "!" + zf.Name, zf: zf}
		}
	}
}

// file reads one job and indexes the advisories the host wants. buf is the
// worker's, reused: a bundle is mostly small files, and a fresh buffer for
// each would be most of a load's garbage.
func (l *loader) file(j job, buf *bytes.Buffer) {
	var r io.Reader
	if j.zf != nil {
		if j.zf.UncompressedSize64 > maxFile {
			l.bad(j.name, fmt.Errorf("larger than %d MiB", maxFile>>20))
			return
		}
		rc, err := j.zf.Open()
		if err != nil {
			l.bad(j.name, err)
			return
		}
		defer rc.Close()
		r = rc
	} else {
		f, err := l.root.Open(j.path)
		if err != nil {
			l.bad(j.name, err)
			return
		}
		defer f.Close()
		r = f
	}
	buf.Reset()
	if _, err := buf.ReadFrom(io.LimitReader(r, maxFile+1)); err != nil {
		l.bad(j.name, err)
		return
	}
	if buf.Len() > maxFile {
		l.bad(j.name, fmt.Errorf("larger than %d MiB", maxFile>>20))
		return
	}
	advs, err := l.decode(buf.Bytes())
	if err != nil {
		l.bad(j.name, err)
		return
	}
	l.add(advs)
}

// head is what decides whether a record is kept; most are not, and
// decoding only this much of them allocates little.
type head struct {
	ID       string `json:"id"`
	Affected []struct {
		Package struct {
			Ecosystem string `json:"ecosystem"`
			Name      string `json:"name"`
		} `json:"package"`
	} `json:"affected"`
}

// decode reads one advisory or an array of them, keeping those naming a
// wanted package.
func (l *loader) decode(data []byte) ([]*Advisory, error) {
	t := bytes.TrimLeft(data, " \t\r\n")
	if len(t) == 0 {
		return nil, errors.New("empty file")
	}
	if t[0] == '[' {
		var raws []json.RawMessage
		if err := json.Unmarshal(t, &raws); err != nil {
			return nil, err
		}
		var out []*Advisory
		for _, raw := range raws {
			a, err := l.one(raw)
			if err != nil {
				return nil, err
			}
			out = append(out, a)
		}
		return out, nil
	}
	a, err := l.one(t)
	if err != nil {
		return nil, err
	}
	return []*Advisory{a}, nil
}

// one decodes one record: the head first, the rest only when it is kept
// (a nil Advisory with an id counts as read and dropped).
func (l *loader) one(raw []byte) (*Advisory, error) {
	var h head
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, err
	}
	if h.ID == "" {
		return nil, errors.New("advisory without an id")
	}
	wanted := false
	for _, af := range h.Affected {
		if l.want.has(af.Package.Ecosystem, af.Package.Name) {
			wanted = true
			break
		}
	}
	if !wanted {
		return &Advisory{ID: h.ID}, nil
	}
	a := new(Advisory)
	if err := json.Unmarshal(raw, a); err != nil {
		return nil, err
	}
	return a, nil
}

// add indexes the affected packages the host wants and drops the rest.
func (l *loader) add(advs []*Advisory) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range advs {
		l.db.n++
		kept := a.Affected[:0]
		for _, af := range a.Affected {
			if l.want.has(af.Package.Ecosystem, af.Package.Name) {
				kept = append(kept, af)
			}
		}
		if len(kept) == 0 {
			continue
		}
		a.Affected = kept
		for i := range a.Affected {
			af := &a.Affected[i]
			k := family(af.Package.Ecosystem) + "\x00" + af.Package.Name
			l.db.byPkg[k] = append(l.db.byPkg[k], &entry{a, af})
		}
		l.db.kept++
	}
}

// bad notes a malformed file; the names kept are the first in lexical
// order, so the finding is the same whatever order the workers ran in.
func (l *loader) bad(name string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.db.badCount++
	msg := l.prefix + name + ": " + err.Error()
	i := sort.SearchStrings(l.db.bad, msg)
	if i >= MaxBadNames {
		return
	}
	l.db.bad = append(l.db.bad, "")
	copy(l.db.bad[i+1:], l.db.bad[i:])
	l.db.bad[i] = msg
	if len(l.db.bad) > MaxBadNames {
		l.db.bad = l.db.bad[:MaxBadNames]
	}
}

// Bad is the number of files skipped as malformed and the first few of
// them, each "name: error".
func (db *DB) Bad() (int, []string) { return db.badCount, db.bad }

// Kept is the number of advisories that name a package the host has.
func (db *DB) Kept() int { return db.kept }

// Cache keeps the last load while the bundle and the wanted set stay the
// same, so that a rescan does not read 100,000 records again.
type Cache struct {
	key string
	db  *DB
}

// LoadBundle loads the bundle at p, a path on the agent's own filesystem (a
// volume of the DaemonSet, a download on a CI runner): the operator's
// advisories are not an input of the host under audit, and a CI job that
// audits an image tree keeps its bundle outside that tree. It is still read
// through a root-confined reader of its own, rooted at the bundle, so that no
// link inside the bundle leads out of it.
func (c *Cache) LoadBundle(p string, want Want) (*DB, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return nil, fmt.Errorf("OSV bundle: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("OSV bundle: %w", err)
	}
	dir, name := abs, "/"
	if !fi.IsDir() {
		dir, name = filepath.Dir(abs), "/"+filepath.Base(abs)
	}
	root, err := hostfs.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("OSV bundle: %w", err)
	}
	defer root.Close()
	return c.Load(root, name, want)
}

// Load returns the cached load, or loads the bundle again when its stamp or
// want changed.
func (c *Cache) Load(root *hostfs.Root, p string, want Want) (*DB, error) {
	st, err := stamp(root, p)
	if err != nil {
		c.key, c.db = "", nil
		return nil, fmt.Errorf("OSV bundle: %w", err)
	}
	key := root.Path() + "\x00" + p + "\x00" + st + "\x00" + want.key()
	if c.db != nil && c.key == key {
		return c.db, nil
	}
	db, err := Load(root, p, want)
	if err != nil {
		c.key, c.db = "", nil
		return nil, err
	}
	c.key, c.db = key, db
	return db, nil
}

// stamp identifies a bundle's state: size and mtime of the file, or of
// every directory and archive below the directory. Adding, removing or
// renaming a record changes its directory's mtime; tools that refresh a
// bundle replace files by renaming, so rewriting one in place is not
// tracked.
func stamp(root *hostfs.Root, p string) (string, error) {
	var b strings.Builder
	var walk func(p string, depth int) error
	walk = func(p string, depth int) error {
		fi, err := root.Stat(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %d %d\n", p, fi.Size(), fi.ModTime().UnixNano())
		if !fi.IsDir() || depth > 8 {
			return nil
		}
		d, err := root.OpenDir(p)
		if err != nil {
			return err
		}
		defer d.Close()
		for {
			ents, err := d.Entries(1024)
			for _, e := range ents {
				if e.IsDir() || strings.HasSuffix(e.Name(), ".zip") {
					if err := walk(path.Join(p, e.Name()), depth+1); err != nil {
						return err
					}
				}
			}
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
	if err := walk(p, 0); err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(h[:]), nil
}
