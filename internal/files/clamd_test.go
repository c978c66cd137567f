package files_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"kabinet/internal/files"
)

// The INSTREAM client against a real clamd, over both sockets.
func TestClamdScan(t *testing.T) {
	c := startClamd(t, "20M")
	ctx := context.Background()
	noise := make([]byte, 3<<20) // many chunks
	rand.Read(noise)
	for _, addr := range []string{c.Unix, c.TCP} {
		scanner := &files.Clamd{Address: addr}
		for _, tc := range []struct {
			name    string
			content []byte
			sig     string // prefix of the signature; "" for clean
		}{
			{"clean PDF", tinyPDF("hello", nil, 0), ""},
			{"3 MiB of noise", noise, ""},
			{"empty", nil, ""},
			{"EICAR", eicar(t), "Kabinet.Test.EICAR"},
			{"EICAR in a PDF", tinyPDF("x", eicar(t), 200<<10), "Kabinet.Test.EICAR.Embedded"},
			{"EICAR after 3 MiB", append(append([]byte{}, noise...), eicar(t)...), "Kabinet.Test.EICAR.Embedded"},
		} {
			res, err := scanner.Scan(ctx, bytes.NewReader(tc.content))
			if err != nil {
				t.Errorf("%s via %s: %v", tc.name, addr, err)
				continue
			}
			if tc.sig == "" && res.Infected {
				t.Errorf("%s via %s: infected %q", tc.name, addr, res.Signature)
			}
			// clamd adds ".UNOFFICIAL" to signatures of unofficial databases;
			// the bare EICAR file matches both test signatures, and clamd
			// names either.
			if tc.sig != "" && (!res.Infected || !strings.HasPrefix(res.Signature, tc.sig)) {
				t.Errorf("%s via %s: %+v, want %s", tc.name, addr, res, tc.sig)
			}
		}
	}
}

// A stream over clamd's StreamMaxLength is an error, not a clean verdict.
func TestClamdStreamLimitIsAnError(t *testing.T) {
	c := startClamd(t, "1M")
	big := make([]byte, 2<<20)
	res, err := (&files.Clamd{Address: c.TCP}).Scan(context.Background(), bytes.NewReader(big))
	if err == nil {
		t.Fatalf("2 MiB past a 1 MiB limit: %+v, no error", res)
	}
	t.Logf("clamd's answer: %v", err)
}

// An unreachable or misnamed clamd is an error, quickly.
func TestClamdUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, addr := range []string{"unix:" + t.TempDir() + "/none.sock", "tcp:127.0.0.1:1", "clamd", "tcp:nohostport", "unix:"} {
		c := &files.Clamd{Address: addr}
		if err := c.Ping(ctx); err == nil {
			t.Errorf("Ping %s: no error", addr)
		}
		if _, err := c.Scan(ctx, bytes.NewReader([]byte("x"))); err == nil {
			t.Errorf("Scan %s: no error", addr)
		}
	}
	if ctx.Err() != nil {
		t.Error("the failures took too long")
	}
}
