// Command kubeletgen writes internal/config/v1beta1/zz_generated_types.go:
// the KubeletConfiguration types of k8s.io/kubelet's config/v1beta1 package,
// at the version go.mod selects, with the k8s.io/component-base types they
// use (logs/api/v1, tracing/api/v1) copied into the same file. The probes
// decode kubelet configuration files with that copy, so they do not link
// component-base (its metrics registry, the Prometheus client and feature
// gates that start with every nodeguard command).
//
// Every declaration is read from the modules' own source with go/ast: the
// type closure of KubeletConfiguration in source order, with its doc
// comments, JSON tags and field order; the enum constants of those types;
// the JSON (un)marshalling methods of the copied types; the group, version
// and known kinds of register.go. Nothing is typed by hand.
//
//	go run ./internal/kubeletgen -o internal/config/v1beta1/zz_generated_types.go   (from probes/kubelet)
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

const (
	kubeletModule = "k8s.io/kubelet"
	// kubeletPkg is the package whose types are copied.
	kubeletPkg = kubeletModule + "/config/v1beta1"
	rootType   = "KubeletConfiguration"
)

// inlined are the modules whose types are copied into the output rather than
// imported; other packages (k8s.io/apimachinery, k8s.io/api) stay imported.
var inlined = []string{kubeletModule, "k8s.io/component-base"}

// jsonMethods are the methods copied with a type: those that change its JSON
// (IsZero decides omitzero).
var jsonMethods = map[string]bool{"MarshalJSON": true, "UnmarshalJSON": true, "MarshalText": true, "UnmarshalText": true, "IsZero": true}

func main() {
	out := flag.String("o", "internal/config/v1beta1/zz_generated_types.go", "output file")
	flag.Parse()
	log.SetFlags(0)
	mods, err := Modules()
	if err != nil {
		log.Fatal(err)
	}
	src, err := Generate(mods)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		log.Fatal(err)
	}
}

// Module is a module of the build list, as `go list -m` reports it.
type Module struct{ Path, Version, Dir string }

// Modules returns the inlined modules at the versions the current module
// (the repository's go.mod) selects.
func Modules() ([]Module, error) {
	cmd := exec.Command("go", append([]string{"list", "-m", "-json"}, inlined...)...)
	cmd.Stderr = os.Stderr
	data, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -m %s: %v", strings.Join(inlined, " "), err)
	}
	var mods []Module
	for dec := json.NewDecoder(bytes.NewReader(data)); dec.More(); {
		var m Module
		if err := dec.Decode(&m); err != nil {
			return nil, err
		}
		if m.Dir == "" {
			return nil, fmt.Errorf("%s %s is not in the module cache (go mod download %s)", m.Path, m.Version, m.Path)
		}
		mods = append(mods, m)
	}
	if len(mods) != len(inlined) {
		return nil, fmt.Errorf("go list -m: %d modules, want %d", len(mods), len(inlined))
	}
	return mods, nil
}

// pkg is one parsed source package.
type pkg struct {
	path  string
	files []*srcFile
	types map[string]*typeDecl
	// methods maps a receiver type name to its JSON methods.
	methods map[string][]*ast.FuncDecl
	file    map[ast.Node]*srcFile
}

type srcFile struct {
	name    string
	src     []byte
	ast     *ast.File
	imports map[string]string // name in this file -> import path
}

type typeDecl struct {
	gen  *ast.GenDecl
	spec *ast.TypeSpec
	f    *srcFile
}

type generator struct {
	fset *token.FileSet
	mods []Module
	pkgs map[string]*pkg
	// included lists the copied types per package; names maps a copied
	// type's name to its package, to catch two packages with the same name.
	included map[string]map[string]bool
	names    map[string]string
	queue    [][2]string
	// imports maps a kept import path to its name in the output.
	imports map[string]string
}

// Generate returns the formatted source of zz_generated_types.go.
// Every step reports what it cannot copy through g.fail, rendering included.
func Generate(mods []Module) (src []byte, err error) {
	g := &generator{fset: token.NewFileSet(), mods: mods, pkgs: map[string]*pkg{},
		included: map[string]map[string]bool{}, names: map[string]string{}, imports: map[string]string{}}
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(genError)
			if !ok {
				panic(r)
			}
			src, err = nil, e
		}
	}()
	g.closure()
	return g.render()
}

type genError struct{ error }

func (g *generator) fail(format string, args ...any) {
	panic(genError{fmt.Errorf(format, args...)})
}

func (g *generator) module(path string) Module {
	for _, m := range g.mods {
		if path == m.Path || strings.HasPrefix(path, m.Path+"/") {
			return m
		}
	}
	g.fail("%s: not in an inlined module", path)
	return Module{}
}

func isInlined(path string) bool {
	for _, m := range inlined {
		if path == m || strings.HasPrefix(path, m+"/") {
			return true
		}
	}
	return false
}

// load parses the non-test Go files of an inlined package.
func (g *generator) load(path string) *pkg {
	if p, ok := g.pkgs[path]; ok {
		return p
	}
	m := g.module(path)
	dir := filepath.Join(m.Dir, strings.TrimPrefix(strings.TrimPrefix(path, m.Path), "/"))
	ents, err := os.ReadDir(dir)
	if err != nil {
		g.fail("%s: %v", path, err)
	}
	p := &pkg{path: path, types: map[string]*typeDecl{}, methods: map[string][]*ast.FuncDecl{}, file: map[ast.Node]*srcFile{}}
	for _, ent := range ents {
		name := ent.Name()
		if ent.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			g.fail("%v", err)
		}
		f, err := parser.ParseFile(g.fset, path+"/"+name, src, parser.ParseComments)
		if err != nil {
			g.fail("%v", err)
		}
		sf := &srcFile{name: name, src: src, ast: f, imports: map[string]string{}}
		for _, is := range f.Imports {
			ip, _ := strconv.Unquote(is.Path.Value)
			n := ip[strings.LastIndex(ip, "/")+1:]
			if is.Name != nil {
				n = is.Name.Name
			}
			sf.imports[n] = ip
		}
		p.files = append(p.files, sf)
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.GenDecl:
				if d.Tok != token.TYPE {
					continue
				}
				for _, s := range d.Specs {
					ts := s.(*ast.TypeSpec)
					p.types[ts.Name.Name] = &typeDecl{gen: d, spec: ts, f: sf}
				}
			case *ast.FuncDecl:
				if d.Recv == nil || !jsonMethods[d.Name.Name] {
					continue
				}
				p.methods[recvName(d)] = append(p.methods[recvName(d)], d)
				p.file[d] = sf
			}
		}
	}
	if len(p.files) == 0 {
		g.fail("%s: no Go files in %s", path, dir)
	}
	g.pkgs[path] = p
	return p
}

func recvName(d *ast.FuncDecl) string {
	t := d.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	return t.(*ast.Ident).Name
}

// closure collects the types KubeletConfiguration needs, breadth first.
func (g *generator) closure() {
	g.add(kubeletPkg, rootType)
	for len(g.queue) > 0 {
		q := g.queue[0]
		g.queue = g.queue[1:]
		p := g.load(q[0])
		td, ok := p.types[q[1]]
		if !ok {
			g.fail("%s: no type %s", q[0], q[1])
		}
		g.refs(p, td.f, td.spec)
		for _, m := range p.methods[q[1]] {
			g.refs(p, p.file[m], m)
		}
	}
}

func (g *generator) add(path, name string) {
	if g.included[path][name] {
		return
	}
	if other, dup := g.names[name]; dup {
		g.fail("type %s is in both %s and %s; the copy has one namespace", name, other, path)
	}
	if g.included[path] == nil {
		g.included[path] = map[string]bool{}
	}
	g.included[path][name] = true
	g.names[name] = path
	g.queue = append(g.queue, [2]string{path, name})
}

// qualified reports whether sel is an identifier of an imported package
// (pkg.Name), with the package's name in the file and its import path.
func (f *srcFile) qualified(sel *ast.SelectorExpr) (x *ast.Ident, path string, ok bool) {
	if x, ok = sel.X.(*ast.Ident); ok {
		path, ok = f.imports[x.Name]
	}
	return x, path, ok
}

// refs queues the types n refers to and records the imports it keeps.
func (g *generator) refs(p *pkg, f *srcFile, n ast.Node) {
	ast.Inspect(n, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.Field:
			// Field names are not references; a field may share a type's name.
			g.refs(p, f, n.Type)
			return false
		case *ast.SelectorExpr:
			x, ip, ok := f.qualified(n)
			if !ok {
				return true
			}
			if isInlined(ip) {
				g.add(ip, n.Sel.Name)
			} else {
				g.keepImport(x.Name, ip)
			}
			return false
		case *ast.Ident:
			if _, ok := p.types[n.Name]; ok {
				g.add(p.path, n.Name)
			}
		}
		return true
	})
}

func (g *generator) keepImport(name, path string) {
	if _, ok := g.imports[path]; ok {
		return
	}
	for p, n := range g.imports {
		if n == name {
			g.fail("import name %s is both %s and %s", name, p, path)
		}
	}
	g.imports[path] = name
}

// edit replaces src[start:end] of a declaration's text.
type edit struct {
	start, end int
	text       string
}

// text returns a declaration's source (from its doc comment) with the
// package qualifiers of copied types removed and kept imports renamed.
func (g *generator) text(f *srcFile, from, to token.Pos, nodes ...ast.Node) string {
	base := g.fset.File(from).Base()
	off := func(p token.Pos) int { return int(p) - base }
	var edits []edit
	for _, n := range nodes {
		ast.Inspect(n, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			x, ip, ok := f.qualified(sel)
			if !ok {
				return true
			}
			if isInlined(ip) {
				edits = append(edits, edit{off(x.Pos()), off(sel.Sel.Pos()), ""})
			} else if name := g.imports[ip]; name != x.Name {
				edits = append(edits, edit{off(x.Pos()), off(x.End()), name})
			}
			return false
		})
	}
	s, e := off(from), off(to)
	sort.Slice(edits, func(i, j int) bool { return edits[i].start > edits[j].start })
	b := []byte(string(f.src[s:e]))
	for _, ed := range edits {
		b = append(b[:ed.start-s], append([]byte(ed.text), b[ed.end-s:]...)...)
	}
	return string(b)
}

func docStart(doc *ast.CommentGroup, p token.Pos) token.Pos {
	if doc != nil {
		return doc.Pos()
	}
	return p
}

// render writes the copied declarations, the root package first, each
// package's in source order.
func (g *generator) render() ([]byte, error) {
	var paths []string
	for p := range g.included {
		if p != kubeletPkg {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	paths = append([]string{kubeletPkg}, paths...)

	var body bytes.Buffer
	for _, path := range paths {
		p := g.pkgs[path]
		fmt.Fprintf(&body, "// From %s.\n\n", path)
		for _, f := range p.files {
			for _, d := range f.ast.Decls {
				switch d := d.(type) {
				case *ast.GenDecl:
					switch d.Tok {
					case token.TYPE:
						for _, s := range d.Specs {
							ts := s.(*ast.TypeSpec)
							if !g.included[path][ts.Name.Name] {
								continue
							}
							if d.Lparen.IsValid() {
								body.WriteString("type " + g.text(f, docStart(ts.Doc, ts.Pos()), ts.End(), ts) + "\n\n")
							} else {
								body.WriteString(g.text(f, docStart(d.Doc, d.Pos()), d.End(), d) + "\n\n")
							}
						}
					case token.CONST:
						if g.enumOfIncluded(path, d) {
							body.WriteString(g.text(f, docStart(d.Doc, d.Pos()), d.End(), d) + "\n\n")
						}
					}
				case *ast.FuncDecl:
					if d.Recv != nil && jsonMethods[d.Name.Name] && g.included[path][recvName(d)] {
						body.WriteString(g.text(f, docStart(d.Doc, d.Pos()), d.End(), d) + "\n\n")
					}
				}
			}
		}
	}

	group, version, kinds := g.register()
	kubelet := g.module(kubeletPkg)
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by internal/kubeletgen from %s %s; DO NOT EDIT.\n\n", kubeletPkg, kubelet.Version)
	b.WriteString("// Copyright The Kubernetes Authors. Licensed under the Apache License,\n// Version 2.0 (http://www.apache.org/licenses/LICENSE-2.0).\n\n")
	fmt.Fprintf(&b, "// Package v1beta1 is a copy of the KubeletConfiguration types of\n// %s %s, with the types of\n", kubeletPkg, kubelet.Version)
	var from []string
	for _, path := range paths[1:] {
		from = append(from, path+" "+g.module(path).Version)
	}
	fmt.Fprintf(&b, "// %s\n// they use copied in, so that decoding a kubelet configuration file does\n// not link those packages. The JSON contract is the upstream one.\n", strings.Join(from, ",\n// "))
	b.WriteString("package v1beta1\n\nimport (\n")
	var ips []string
	for ip := range g.imports {
		ips = append(ips, ip)
	}
	// The standard library first, then the rest with their names.
	sort.Slice(ips, func(i, j int) bool {
		si, sj := !strings.Contains(ips[i], "."), !strings.Contains(ips[j], ".")
		if si != sj {
			return si
		}
		return ips[i] < ips[j]
	})
	for i, ip := range ips {
		if !strings.Contains(ip, ".") {
			fmt.Fprintf(&b, "\t%q\n", ip)
			continue
		}
		if i > 0 && !strings.Contains(ips[i-1], ".") {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "\t%s %q\n", g.imports[ip], ip)
	}
	b.WriteString(")\n\n")
	fmt.Fprintf(&b, "// GroupName and Version are those of %s's register.go.\nconst (\n\tGroupName = %q\n\tVersion = %q\n)\n\n", kubeletPkg, group, version)
	fmt.Fprintf(&b, "// KnownKind reports whether register.go adds kind to a scheme for\n// GroupName/Version.\nfunc KnownKind(kind string) bool {\n\tswitch kind {\n\tcase %s:\n\t\treturn true\n\t}\n\treturn false\n}\n\n", quoted(kinds))
	b.Write(body.Bytes())
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("formatting the output: %v", err)
	}
	return src, nil
}

// enumOfIncluded reports whether a const block declares values of a copied type.
func (g *generator) enumOfIncluded(path string, d *ast.GenDecl) bool {
	for _, s := range d.Specs {
		if id, ok := s.(*ast.ValueSpec).Type.(*ast.Ident); ok && g.included[path][id.Name] {
			return true
		}
	}
	return false
}

// register reads GroupName, the version of SchemeGroupVersion and the
// kinds addKnownTypes registers from the package's register.go.
func (g *generator) register() (group, version string, kinds []string) {
	p := g.pkgs[kubeletPkg]
	var f *srcFile
	for _, sf := range p.files {
		if sf.name == "register.go" {
			f = sf
		}
	}
	if f == nil {
		g.fail("%s: no register.go", kubeletPkg)
	}
	str := func(e ast.Expr) string {
		lit, ok := e.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			g.fail("%s: %s is not a string literal", kubeletPkg, g.fset.Position(e.Pos()))
		}
		s, _ := strconv.Unquote(lit.Value)
		return s
	}
	ast.Inspect(f.ast, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.ValueSpec:
			for i, name := range n.Names {
				if i >= len(n.Values) {
					continue
				}
				switch name.Name {
				case "GroupName":
					group = str(n.Values[i])
				case "SchemeGroupVersion":
					if cl, ok := n.Values[i].(*ast.CompositeLit); ok {
						for _, e := range cl.Elts {
							if kv, ok := e.(*ast.KeyValueExpr); ok && kv.Key.(*ast.Ident).Name == "Version" {
								version = str(kv.Value)
							}
						}
					}
				}
			}
		case *ast.CallExpr:
			sel, ok := n.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "AddKnownTypes" {
				return true
			}
			for _, a := range n.Args[1:] {
				u, ok := a.(*ast.UnaryExpr)
				if !ok {
					g.fail("%s: AddKnownTypes argument is not &T{}", g.fset.Position(a.Pos()))
				}
				kinds = append(kinds, u.X.(*ast.CompositeLit).Type.(*ast.Ident).Name)
			}
		}
		return true
	})
	if group == "" || version == "" || len(kinds) == 0 {
		g.fail("%s/register.go: GroupName, SchemeGroupVersion or AddKnownTypes not found; the generator needs updating", kubeletPkg)
	}
	return group, version, kinds
}

func quoted(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}
