package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkColdStart measures the time from calling run("serve") on an
// empty data directory (so including database creation, migrations and
// demo key generation) to the first answered request for the home page.
func BenchmarkColdStart(b *testing.B) {
	var total time.Duration
	n := 0
	for b.Loop() {
		dir := filepath.Join(b.TempDir(), "data")
		ctx, cancel := context.WithCancel(context.Background())
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			done <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dir}, testEnv(nil), nil, pw, io.Discard)
			pw.Close()
		}()
		sc := bufio.NewScanner(pr)
		url := ""
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "kabinet: serving "); ok {
				url = u
				break
			}
		}
		go io.Copy(io.Discard, pr)
		resp, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		total += time.Since(start)
		n++
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(total.Microseconds())/float64(n)/1000, "ms-to-first-page")
}
