package dnf

import (
	"bytes"
	"fmt"
	"testing"
)

// syntheticPrimary is a primary.xml of n packages shaped like a
// distribution's: every package with its dependency and file lists.
func syntheticPrimary(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="` + fmt.Sprint(n) + `">` + "\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `<package type="rpm"><name>pkg%d</name><arch>x86_64</arch><version epoch="0" ver="1.%d" rel="1.el9"/>`, i, i)
		fmt.Fprintf(&b, `<checksum type="sha256" pkgid="YES">%064d</checksum><summary>Package %d</summary><description>A synthetic package used to measure how fast primary.xml streams through the parser.</description>`, i, i)
		b.WriteString(`<packager>nodeguard</packager><url>https://example.org/</url><time file="1700000000" build="1700000000"/><size package="100000" installed="300000" archive="300500"/>`)
		fmt.Fprintf(&b, `<location href="Packages/p/pkg%d-1.%d-1.el9.x86_64.rpm"/><format><rpm:license>MIT</rpm:license><rpm:vendor>x</rpm:vendor><rpm:group>Unspecified</rpm:group><rpm:buildhost>b</rpm:buildhost><rpm:sourcerpm>pkg%d-1.%d-1.el9.src.rpm</rpm:sourcerpm><rpm:header-range start="4504" end="20000"/>`, i, i, i, i)
		b.WriteString(`<rpm:provides>`)
		for j := 0; j < 8; j++ {
			fmt.Fprintf(&b, `<rpm:entry name="libpkg%d_%d.so.1()(64bit)"/>`, i, j)
		}
		b.WriteString(`</rpm:provides><rpm:requires>`)
		for j := 0; j < 15; j++ {
			fmt.Fprintf(&b, `<rpm:entry name="libdep%d.so.6(GLIBC_2.%d)(64bit)" flags="GE" epoch="0" ver="2.34"/>`, j, j)
		}
		b.WriteString(`</rpm:requires>`)
		for j := 0; j < 3; j++ {
			fmt.Fprintf(&b, `<file>/usr/bin/pkg%d-tool%d</file>`, i, j)
		}
		b.WriteString("</format></package>\n")
	}
	b.WriteString("</metadata>\n")
	return b.Bytes()
}

// BenchmarkPrimaryXML streams a 20,000-package primary.xml (about the size
// of a distribution's main repository) keeping 900 installed names.
func BenchmarkPrimaryXML(b *testing.B) {
	data := syntheticPrimary(20000)
	want := func(n string) bool { return len(n) == 6 } // pkg100..pkg999: 900 names
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		kept := 0
		if err := parsePrimaryXML(bytes.NewReader(data), "r", want, func(Available) { kept++ }); err != nil {
			b.Fatal(err)
		}
		if kept != 900 {
			b.Fatalf("kept %d", kept)
		}
	}
}
