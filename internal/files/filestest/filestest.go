// Package filestest holds test helpers shared by the tests of package
// files and the end-to-end tests: a real clamd on an EICAR-only signature
// database, the EICAR test file, and small valid PDFs.
package filestest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kabinet/internal/files"
)

// EICAR returns the EICAR test file, built from two halves so that this
// source file is not itself flagged by a scanner.
func EICAR(t testing.TB) []byte {
	t.Helper()
	b := []byte(`X5O!P%@AP[4\PZX54(P^)7CC)7}$` + `EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`)
	if sum := md5.Sum(b); hex.EncodeToString(sum[:]) != "44d88612fea8a8f36de82e1278abb02f" {
		t.Fatalf("the EICAR string is wrong: md5 %x", sum)
	}
	return b
}

// TinyPDF returns a valid one-page PDF showing text, with payload (if
// any) as an extra stream object and padding bytes of filler in a
// comment stream, so that a larger file can be made.
func TinyPDF(text string, payload []byte, padding int) []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 100] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		"",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	content := "BT /F1 10 Tf 10 50 Td (" + text + ") Tj ET"
	objs[3] = fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content)
	if padding > 0 {
		fill := strings.Repeat("0123456789abcdef", padding/16+1)[:padding]
		objs = append(objs, fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(fill), fill))
	}
	if payload != nil {
		objs = append(objs, fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(payload), payload))
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// Clamd is a real clamd started for a test on a signature database
// holding only the EICAR test signature (by MD5, and as a byte pattern
// that also finds it inside a larger file).
type Clamd struct {
	Unix, TCP string // scanner addresses: unix:PATH and tcp:127.0.0.1:PORT
}

// StartClamd starts clamd with StreamMaxLength maxLen ("20M"), waits for
// PING → PONG and kills it when the test ends; it skips the test when
// Clamd is not installed.
func StartClamd(t testing.TB, maxLen string) *Clamd {
	t.Helper()
	bin := "/usr/sbin/clamd"
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("clamd"); err != nil {
			t.Skip("clamd tests skipped: clamd is not installed (Debian: apt-get install clamav-daemon)")
		}
	}
	// A short path: a Unix socket's path is limited to 108 bytes.
	dir, err := os.MkdirTemp("", "clamd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o755); err != nil {
		t.Fatal(err)
	}
	e := EICAR(t)
	sum := md5.Sum(e)
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(db, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("kabinet.hdb", fmt.Sprintf("%x:%d:Kabinet.Test.EICAR\n", sum, len(e)))
	write("kabinet.ndb", "Kabinet.Test.EICAR.Embedded:0:*:"+hex.EncodeToString(e)+"\n")
	port := freePort(t)
	sock := filepath.Join(dir, "clamd.sock")
	conf := filepath.Join(dir, "clamd.conf")
	if err := os.WriteFile(conf, []byte(strings.Join([]string{
		"Foreground yes",
		"DatabaseDirectory " + db,
		"LocalSocket " + sock,
		fmt.Sprintf("TCPSocket %d", port),
		"TCPAddr 127.0.0.1",
		"StreamMaxLength " + maxLen,
		"SelfCheck 0",
		"",
	}, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	c := &Clamd{Unix: "unix:" + sock, TCP: fmt.Sprintf("tcp:127.0.0.1:%d", port)}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err1 := (&files.Clamd{Address: c.Unix}).Ping(ctx)
		err2 := (&files.Clamd{Address: c.TCP}).Ping(ctx)
		cancel()
		if err1 == nil && err2 == nil {
			return c
		}
		select {
		case <-exited:
			t.Fatalf("clamd exited: %s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("clamd did not answer PING: %v, %v\n%s", err1, err2, out.String())
		}
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
