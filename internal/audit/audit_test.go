package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kabinet/internal/fault"
	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
)

// testKey returns a fixed signing key named id and the keys map Verify
// takes.
func testKey(id string) (ed25519.PrivateKey, map[string]ed25519.PublicKey) {
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, id)
	priv := ed25519.NewKeyFromSeed(seed)
	return priv, map[string]ed25519.PublicKey{id: priv.Public().(ed25519.PublicKey)}
}

// openLog opens a Log signing with key "k1" (unless opts say otherwise),
// closed when the test ends.
func openLog(t testing.TB, db *sqldb.DB, opts Options) *Log {
	t.Helper()
	if opts.Signer == nil {
		opts.Signer, _ = testKey("k1")
		opts.KeyID = "k1"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l, err := Open(context.Background(), db, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// sample is a realistic entry: ids and codes only.
func sample(i int) Entry {
	return Entry{
		Actor:      Actor{Kind: ActorStaff, ID: fmt.Sprintf("staff-%d", i%5)},
		Subject:    fmt.Sprintf("subj-%d", i%3),
		Action:     "pd.read",
		Purpose:    "service.delivery",
		Categories: []string{"phone", "name"},
		Outcome:    OutcomeOK,
		RequestID:  fmt.Sprintf("req-%d", i),
		Attrs:      map[string]string{"consent_version": "3"},
	}
}

func mustVerify(t *testing.T, db *sqldb.DB, keys map[string]ed25519.PublicKey) Report {
	t.Helper()
	rep, err := Verify(context.Background(), db, keys, nil)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

func TestAppendAndVerify(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		_, keys := testKey("k1")
		l := openLog(t, db, Options{CheckpointEvery: 10, CheckpointInterval: -1})
		prev := make([]byte, HashSize)
		for i := range 25 {
			e, err := l.Append(ctx, sample(i))
			if err != nil {
				t.Fatalf("Append %d: %v", i, err)
			}
			if e.Seq != int64(i+1) {
				t.Fatalf("Append %d: seq %d, want %d", i, e.Seq, i+1)
			}
			if !bytes.Equal(e.PrevHash, prev) || len(e.Hash) != HashSize || !bytes.Equal(e.Hash, e.Sum()) {
				t.Fatalf("entry %d: prev %x hash %x, want prev %x and hash = Sum", e.Seq, e.PrevHash, e.Hash, prev)
			}
			if e.Time.IsZero() || !slices.Equal(e.Categories, []string{"name", "phone"}) {
				t.Fatalf("entry %d: time %v categories %v", e.Seq, e.Time, e.Categories)
			}
			prev = e.Hash
		}
		var calls []int64
		rep, err := Verify(ctx, db, keys, func(done, total int64) {
			if total != 25 {
				t.Errorf("progress total %d, want 25", total)
			}
			calls = append(calls, done)
		})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK || rep.Entries != 25 || rep.Checkpoints != 2 || rep.LastCheckpoint.Seq != 20 || rep.Unsigned != 5 {
			t.Fatalf("report %+v (%s)", rep, rep)
		}
		if len(calls) == 0 || calls[len(calls)-1] != 25 {
			t.Errorf("progress calls %v, want the last to be 25", calls)
		}
		if !strings.Contains(rep.String(), "audit chain OK: 25 entries") {
			t.Errorf("String() = %q", rep.String())
		}
		if err := l.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		rep = mustVerify(t, db, keys)
		if !rep.OK || rep.Checkpoints != 3 || rep.LastCheckpoint.Seq != 25 || rep.Unsigned != 0 {
			t.Fatalf("after Close (which checkpoints the head): %s", rep)
		}
	})
}

// Verify must work page by page: the same chain and the same tampering are
// judged alike whatever the page size.
func TestVerifyAcrossPages(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		_, keys := testKey("k1")
		l := openLog(t, db, Options{CheckpointEvery: 10, CheckpointInterval: -1})
		for i := range 45 {
			if _, err := l.Append(ctx, sample(i)); err != nil {
				t.Fatal(err)
			}
		}
		for _, page := range []int{1, 7, 10, 45, 1000} {
			rep, err := verify(ctx, db, keys, nil, page)
			if err != nil || !rep.OK || rep.Entries != 45 || rep.Checkpoints != 4 {
				t.Fatalf("page %d: %v %s", page, err, rep)
			}
		}
		exec(t, db, "DELETE FROM audit_log WHERE seq = 21")
		for _, page := range []int{1, 7, 10, 20, 1000} {
			rep, err := verify(ctx, db, keys, nil, page)
			if err != nil || rep.OK || rep.FirstBad.Seq != 21 || rep.FirstBad.Kind != MissingEntry || rep.Entries != 20 {
				t.Fatalf("page %d after deleting 21: %v %s", page, err, rep)
			}
		}
	})
}

// Many goroutines appending at once get one gap-free chain, written in
// fewer transactions than entries (group commit).
func TestConcurrentAppends(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		_, keys := testKey("k1")
		l := openLog(t, db, Options{CheckpointEvery: 100, CheckpointInterval: -1})
		const workers, each = 16, 40
		seqs := make(chan int64, workers*each)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					e, err := l.Append(ctx, sample(w*each+i))
					if err != nil {
						t.Errorf("Append: %v", err)
						return
					}
					seqs <- e.Seq
				}
			})
		}
		wg.Wait()
		close(seqs)
		var got []int64
		for s := range seqs {
			got = append(got, s)
		}
		slices.Sort(got)
		for i, s := range got {
			if s != int64(i+1) {
				t.Fatalf("seqs returned are not 1…%d: position %d holds %d", workers*each, i, s)
			}
		}
		rep := mustVerify(t, db, keys)
		if !rep.OK || rep.Entries != workers*each || rep.Checkpoints == 0 {
			t.Fatalf("%s", rep)
		}
		batches := l.batches.Load()
		t.Logf("%d entries in %d transactions", workers*each, batches)
		if batches >= workers*each {
			t.Errorf("%d transactions for %d entries: no group commit", batches, workers*each)
		}
	})
}

// Two kabinet processes (two *sqldb.DB on one database, each with its Log
// and its own signing key) appending at once build one valid chain.
func TestTwoProcessesShareOneChain(t *testing.T) {
	for _, engine := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", sqldbtest.SQLiteURL}, {"postgres", sqldbtest.PostgresURL}} {
		t.Run(engine.name, func(t *testing.T) {
			ctx := context.Background()
			url := engine.url(t)
			db1, db2 := sqldbtest.Open(t, url), sqldbtest.Open(t, url)
			k1, keys := testKey("node1")
			k2, keys2 := testKey("node2")
			keys["node2"] = keys2["node2"]
			logs := []*Log{
				openLog(t, db1, Options{Signer: k1, KeyID: "node1", CheckpointEvery: 25, CheckpointInterval: -1}),
				openLog(t, db2, Options{Signer: k2, KeyID: "node2", CheckpointEvery: 25, CheckpointInterval: -1}),
			}
			const perLog, workers, each = 2, 6, 30
			var wg sync.WaitGroup
			var mu sync.Mutex
			seen := map[int64]bool{}
			for _, l := range logs {
				for w := range workers {
					wg.Go(func() {
						for i := range each {
							e, err := l.Append(ctx, sample(w*each+i))
							if err != nil {
								t.Errorf("Append: %v", err)
								return
							}
							mu.Lock()
							if seen[e.Seq] {
								t.Errorf("seq %d returned twice", e.Seq)
							}
							seen[e.Seq] = true
							mu.Unlock()
						}
					})
				}
			}
			wg.Wait()
			for _, l := range logs {
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			}
			want := int64(perLog * workers * each)
			rep := mustVerify(t, db1, keys)
			if !rep.OK || rep.Entries != want || rep.Unsigned != 0 {
				t.Fatalf("want %d entries, all signed: %s", want, rep)
			}
			for s := int64(1); s <= want; s++ {
				if !seen[s] {
					t.Fatalf("seq %d was never returned", s)
				}
			}
			var signers int
			if err := db1.Reader().QueryRowContext(ctx, "SELECT COUNT(DISTINCT key_id) FROM audit_checkpoints").Scan(&signers); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d entries, %d checkpoints by %d keys", rep.Entries, rep.Checkpoints, signers)
		})
	}
}

func exec(t *testing.T, db *sqldb.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Writer().ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// readEntry reads a stored entry as it is, bypassing the log.
func readEntry(t *testing.T, db *sqldb.DB, seq int64) Entry {
	t.Helper()
	rows, err := db.Reader().QueryContext(context.Background(), "SELECT "+entryColumns+" FROM audit_log WHERE seq = $1", seq)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatalf("no entry %d", seq)
	}
	e, bad, err := scanEntry(rows)
	if err != nil || bad != nil {
		t.Fatalf("entry %d: %v %v", seq, err, bad)
	}
	return e
}

// rewrite overwrites every column of the row with seq e.Seq by e.
func rewrite(t *testing.T, db *sqldb.DB, e Entry) {
	t.Helper()
	cats, attrs, err := encodeLists(e)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, db, `UPDATE audit_log SET at = $2, actor_kind = $3, actor_id = $4, subject = $5, action = $6, purpose = $7,
		categories = $8, outcome = $9, reason = $10, request_id = $11, attrs = $12, prev_hash = $13, hash = $14 WHERE seq = $1`,
		e.Seq, sqldb.Micros(e.Time), string(e.Actor.Kind), e.Actor.ID, e.Subject, e.Action, e.Purpose,
		cats, string(e.Outcome), e.Reason, e.RequestID, attrs, e.PrevHash, e.Hash)
}

// insertRaw inserts e as a row, as a forger with database access would.
func insertRaw(t *testing.T, db *sqldb.DB, e Entry) {
	t.Helper()
	cats, attrs, err := encodeLists(e)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, db, insertSQL(1), e.Seq, sqldb.Micros(e.Time), string(e.Actor.Kind), e.Actor.ID, e.Subject, e.Action,
		e.Purpose, cats, string(e.Outcome), e.Reason, e.RequestID, attrs, e.PrevHash, e.Hash)
}

// shiftFrom renumbers entries seq >= from to seq+1, making room for a
// forged entry at from (in two steps: a one-statement shift would collide
// on the key midway on PostgreSQL).
func shiftFrom(t *testing.T, db *sqldb.DB, from int64) {
	exec(t, db, "UPDATE audit_log SET seq = -seq WHERE seq >= $1", from)
	exec(t, db, "UPDATE audit_log SET seq = 1 - seq WHERE seq < 0")
}

func forged(seq int64, prev []byte) Entry {
	e := Entry{Seq: seq, Time: time.Unix(1_800_000_000, 0).UTC(), Actor: Actor{Kind: ActorStaff, ID: "staff-1"},
		Subject: "subj-0", Action: "pd.read", Purpose: "service.delivery", Categories: []string{"passport"},
		Outcome: OutcomeOK, PrevHash: prev}
	e.Hash = e.Sum()
	return e
}

// Every kind of tampering done with SQL directly on the tables is caught by
// Verify, which names the first bad seq. The chain: 30 entries, checkpoints
// at 10, 20 and 30.
func TestVerifyCatchesTampering(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(t *testing.T, db *sqldb.DB)
		seq    int64
		kind   ProblemKind
	}{
		{"edit a field", func(t *testing.T, db *sqldb.DB) {
			exec(t, db, "UPDATE audit_log SET purpose = 'marketing' WHERE seq = 7")
		}, 7, HashMismatch},
		{"edit the time", func(t *testing.T, db *sqldb.DB) {
			exec(t, db, "UPDATE audit_log SET at = at - 1000000 WHERE seq = 7")
		}, 7, HashMismatch},
		{"edit categories", func(t *testing.T, db *sqldb.DB) {
			exec(t, db, `UPDATE audit_log SET categories = '["name"]' WHERE seq = 7`)
		}, 7, HashMismatch},
		{"edit attrs into garbage", func(t *testing.T, db *sqldb.DB) {
			exec(t, db, `UPDATE audit_log SET attrs = '{' WHERE seq = 7`)
		}, 7, HashMismatch},
		{"edit a field and recompute its hash", func(t *testing.T, db *sqldb.DB) {
			e := readEntry(t, db, 7)
			e.Subject = "subj-other"
			e.Hash = e.Sum()
			rewrite(t, db, e)
		}, 8, BrokenLink},
		{"delete an entry in the middle", func(t *testing.T, db *sqldb.DB) {
			exec(t, db, "DELETE FROM audit_log WHERE seq = 12")
		}, 12, MissingEntry},
		{"insert a forged entry before the first", func(t *testing.T, db *sqldb.DB) {
			insertRaw(t, db, forged(0, genesis))
		}, 0, UnexpectedEntry},
		{"insert a forged entry in the middle", func(t *testing.T, db *sqldb.DB) {
			shiftFrom(t, db, 15)
			insertRaw(t, db, forged(15, readEntry(t, db, 14).Hash))
		}, 16, HashMismatch}, // the forged entry itself is well made; the renumbered one after it is not
		{"insert a forged entry with a made-up hash", func(t *testing.T, db *sqldb.DB) {
			shiftFrom(t, db, 15)
			e := forged(15, readEntry(t, db, 14).Hash)
			e.Hash = bytes.Repeat([]byte{0xab}, HashSize)
			insertRaw(t, db, e)
		}, 15, HashMismatch},
		{"insert a forged entry and recompute the whole chain after it", func(t *testing.T, db *sqldb.DB) {
			shiftFrom(t, db, 15)
			e := forged(15, readEntry(t, db, 14).Hash)
			insertRaw(t, db, e)
			prev := e.Hash
			for s := int64(16); s <= 31; s++ {
				r := readEntry(t, db, s)
				r.PrevHash = prev
				r.Hash = r.Sum()
				rewrite(t, db, r)
				prev = r.Hash
			}
		}, 20, CheckpointMismatch}, // only the signature at 20 tells
		{"append a forged entry with a made-up hash", func(t *testing.T, db *sqldb.DB) {
			e := forged(31, readEntry(t, db, 30).Hash)
			e.Hash[0] ^= 1
			insertRaw(t, db, e)
		}, 31, HashMismatch},
		{"reorder: swap two rows' contents", func(t *testing.T, db *sqldb.DB) {
			a, b := readEntry(t, db, 15), readEntry(t, db, 16)
			a.Seq, b.Seq = 16, 15
			rewrite(t, db, a)
			rewrite(t, db, b)
		}, 15, HashMismatch},
		{"change a checkpoint's signature", func(t *testing.T, db *sqldb.DB) {
			var sig []byte
			if err := db.Reader().QueryRow("SELECT signature FROM audit_checkpoints WHERE seq = 20").Scan(&sig); err != nil {
				t.Fatal(err)
			}
			sig[10] ^= 0x40
			exec(t, db, "UPDATE audit_checkpoints SET signature = $1 WHERE seq = 20", sig)
		}, 20, BadSignature},
		{"change a checkpoint's hash", func(t *testing.T, db *sqldb.DB) {
			exec(t, db, "UPDATE audit_checkpoints SET hash = $1 WHERE seq = 20", bytes.Repeat([]byte{1}, HashSize))
		}, 20, BadSignature},
		{"sign a checkpoint with an unknown key", func(t *testing.T, db *sqldb.DB) {
			exec(t, db, "UPDATE audit_checkpoints SET key_id = 'k9' WHERE seq = 20")
		}, 20, UnknownKey},
		{"delete the tail below a checkpoint", func(t *testing.T, db *sqldb.DB) {
			exec(t, db, "DELETE FROM audit_log WHERE seq > 15")
		}, 16, MissingEntry},
		{"delete the tail below a checkpoint and the checkpoints above the cut but one", func(t *testing.T, db *sqldb.DB) {
			exec(t, db, "DELETE FROM audit_log WHERE seq > 15")
			exec(t, db, "DELETE FROM audit_checkpoints WHERE seq > 20")
		}, 16, MissingEntry},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
				ctx := context.Background()
				_, keys := testKey("k1")
				l := openLog(t, db, Options{CheckpointEvery: 10, CheckpointInterval: -1})
				for i := range 30 {
					if _, err := l.Append(ctx, sample(i)); err != nil {
						t.Fatal(err)
					}
				}
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				if rep := mustVerify(t, db, keys); !rep.OK || rep.Checkpoints != 3 {
					t.Fatalf("before tampering: %s", rep)
				}
				c.tamper(t, db)
				rep := mustVerify(t, db, keys)
				if rep.OK || rep.FirstBad == nil {
					t.Fatalf("tampering not detected: %s", rep)
				}
				if rep.FirstBad.Seq != c.seq || rep.FirstBad.Kind != c.kind {
					t.Fatalf("first bad = %v, want seq %d: %s", *rep.FirstBad, c.seq, c.kind)
				}
				t.Logf("%s", rep)
			})
		})
	}
}

// The documented limit: entries after the last checkpoint, deleted together
// with that checkpoint, leave a valid shorter chain. Only a copy of the
// checkpoints kept elsewhere (the log output) shows it, by comparison with
// Report.LastCheckpoint.
func TestTailTruncationAboveLastCheckpointIsNotDetectable(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		_, keys := testKey("k1")
		l := openLog(t, db, Options{CheckpointEvery: 10, CheckpointInterval: -1})
		for i := range 30 {
			if _, err := l.Append(ctx, sample(i)); err != nil {
				t.Fatal(err)
			}
		}
		exec(t, db, "DELETE FROM audit_log WHERE seq > 25")
		exec(t, db, "DELETE FROM audit_checkpoints WHERE seq > 20")
		rep := mustVerify(t, db, keys)
		if !rep.OK || rep.Entries != 25 || rep.LastCheckpoint.Seq != 20 || rep.Unsigned != 5 {
			t.Fatalf("%s", rep)
		}
	})
}

func TestVerifyRejectsMalformedKey(t *testing.T) {
	db := sqldbtest.SQLite(t)
	_, err := Verify(context.Background(), db, map[string]ed25519.PublicKey{"k": {1, 2, 3}}, nil)
	if fault.KindOf(err) != fault.Invalid {
		t.Fatalf("err = %v, want fault.Invalid", err)
	}
}

// Export returns exactly the subject's entries in the time range (From
// inclusive, To exclusive), optionally narrowed by action prefix, each with
// the seq and hash an auditor can check against the chain.
func TestExport(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		base := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
		var now atomic.Int64
		clock := func() time.Time { return time.UnixMicro(now.Load()) }
		l := openLog(t, db, Options{CheckpointInterval: -1, Clock: clock})
		actions := []string{"pd.read", "pd.write", "consent.given", "pd.read_all"}
		var all []Entry
		for i := range 20 {
			now.Store(base.Add(time.Duration(i) * time.Minute).UnixMicro())
			e := sample(i)
			e.Subject = []string{"subj-a", "subj-b"}[i%2]
			e.Action = actions[i%len(actions)]
			stored, err := l.Append(ctx, e)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, stored)
		}
		cases := []struct {
			f    Filter
			want func(e Entry) bool
		}{
			{Filter{Subject: "subj-a", From: base.Add(4 * time.Minute), To: base.Add(14 * time.Minute)}, func(e Entry) bool {
				return e.Subject == "subj-a" && !e.Time.Before(base.Add(4*time.Minute)) && e.Time.Before(base.Add(14*time.Minute))
			}},
			{Filter{Subject: "subj-b"}, func(e Entry) bool { return e.Subject == "subj-b" }},
			{Filter{Subject: "subj-a", Action: "pd"}, func(e Entry) bool { return e.Subject == "subj-a" && strings.HasPrefix(e.Action, "pd.") }},
			{Filter{Subject: "subj-a", Action: "pd.read"}, func(e Entry) bool { return e.Subject == "subj-a" && e.Action == "pd.read" }},
			{Filter{From: base.Add(18 * time.Minute)}, func(e Entry) bool { return e.Seq >= 19 }},
			{Filter{Subject: "subj-nobody"}, func(Entry) bool { return false }},
		}
		for _, c := range cases {
			var buf bytes.Buffer
			n, err := Export(ctx, db, c.f, &buf)
			if err != nil {
				t.Fatalf("Export(%+v): %v", c.f, err)
			}
			var want []Entry
			for _, e := range all {
				if c.want(e) {
					want = append(want, e)
				}
			}
			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if buf.Len() == 0 {
				lines = nil
			}
			if n != len(want) || len(lines) != len(want) {
				t.Fatalf("Export(%+v) = %d entries, %d lines, want %d", c.f, n, len(lines), len(want))
			}
			for i, line := range lines {
				var r ExportRecord
				if err := json.Unmarshal([]byte(line), &r); err != nil {
					t.Fatalf("line %q: %v", line, err)
				}
				w := want[i]
				if r.Seq != w.Seq || r.Hash != hex.EncodeToString(w.Hash) || !r.Time.Equal(w.Time) || r.Subject != w.Subject {
					t.Fatalf("line %d = %s, want seq %d hash %x", i, line, w.Seq, w.Hash)
				}
				// An auditor recomputes the hash from the line alone.
				prev, _ := hex.DecodeString(r.PrevHash)
				e := Entry{Seq: r.Seq, Time: r.Time, Actor: Actor{Kind: ActorKind(r.Actor.Kind), ID: r.Actor.ID},
					Subject: r.Subject, Action: r.Action, Purpose: r.Purpose, Categories: r.Categories,
					Outcome: Outcome(r.Outcome), Reason: r.Reason, RequestID: r.RequestID, Attrs: r.Attrs, PrevHash: prev}
				if hex.EncodeToString(e.Sum()) != r.Hash {
					t.Fatalf("line %d: hash does not recompute from the exported fields", i)
				}
			}
		}
		_, err := Export(ctx, db, Filter{From: base, To: base}, &bytes.Buffer{})
		if fault.KindOf(err) != fault.Invalid {
			t.Errorf("empty range: err = %v, want fault.Invalid", err)
		}
	})
}

func TestAppendAfterClose(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		l := openLog(t, db, Options{CheckpointInterval: -1})
		if _, err := l.Append(ctx, sample(0)); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		_, err := l.Append(ctx, sample(1))
		if !errors.Is(err, ErrClosed) || fault.KindOf(err) != fault.Unavailable {
			t.Fatalf("Append after Close: %v, want ErrClosed (unavailable)", err)
		}
		err = db.InTx(ctx, func(tx *sql.Tx) error {
			_, err := l.AppendTx(ctx, tx, sample(2))
			return err
		})
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("AppendTx after Close: %v, want ErrClosed", err)
		}
		_, keys := testKey("k1")
		if rep := mustVerify(t, db, keys); !rep.OK || rep.Entries != 1 || rep.Unsigned != 0 {
			t.Fatalf("%s", rep)
		}
	})
}

// holdChainLock blocks every audit writer, as another process appending
// would, until the returned func is called.
func holdChainLock(t *testing.T, db *sqldb.DB) (release func()) {
	t.Helper()
	tx, err := db.Writer().BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.LockXact(context.Background(), tx, chainLock); err != nil {
		t.Fatal(err)
	}
	return func() { tx.Rollback() }
}

// An Append whose context ends while it waits for the writer is withdrawn:
// it returns the context's error, is never written, and the chain stays
// valid and gap-free.
func TestCancelledAppendIsNotWritten(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		_, keys := testKey("k1")
		l := openLog(t, db, Options{CheckpointInterval: -1})
		if _, err := l.Append(ctx, sample(0)); err != nil {
			t.Fatal(err)
		}
		release := holdChainLock(t, db)
		short, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
		e := sample(1)
		e.RequestID = "cancelled"
		_, err := l.Append(short, e)
		cancel()
		release()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Append with expired context: %v", err)
		}
		done, cancel2 := context.WithCancel(ctx)
		cancel2()
		if _, err := l.Append(done, sample(2)); !errors.Is(err, context.Canceled) {
			t.Fatalf("Append with cancelled context: %v", err)
		}
		got, err := l.Append(ctx, sample(3))
		if err != nil || got.Seq != 2 {
			t.Fatalf("next Append: seq %d, %v; want seq 2", got.Seq, err)
		}
		var n int
		if err := db.Reader().QueryRow("SELECT COUNT(*) FROM audit_log WHERE request_id = 'cancelled'").Scan(&n); err != nil || n != 0 {
			t.Fatalf("cancelled entry stored %d times (%v)", n, err)
		}
		if rep := mustVerify(t, db, keys); !rep.OK || rep.Entries != 2 {
			t.Fatalf("%s", rep)
		}
	})
}

// When a batch's transaction fails, every waiter in it gets the error,
// nothing of it is stored, and later appends continue the chain without a
// gap.
func TestFailedBatchLeavesChainValid(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		_, keys := testKey("k1")
		l := openLog(t, db, Options{CheckpointEvery: 4, CheckpointInterval: -1})
		for i := range 3 {
			if _, err := l.Append(ctx, sample(i)); err != nil {
				t.Fatal(err)
			}
		}
		injected := errors.New("injected commit failure")
		entered, resume := make(chan struct{}), make(chan struct{})
		var calls atomic.Int32
		var failing atomic.Bool
		failing.Store(true)
		l.beforeCommit = func() error {
			if calls.Add(1) == 1 {
				close(entered)
				<-resume // hold the first batch's transaction while others queue
			}
			if failing.Load() {
				return injected
			}
			return nil
		}
		const n = 10
		errs := make(chan error, n)
		submit := func(i int) {
			e := sample(100 + i)
			e.RequestID = fmt.Sprintf("doomed-%d", i)
			_, err := l.Append(ctx, e)
			errs <- err
		}
		go submit(0)
		<-entered
		for i := 1; i < n; i++ {
			go submit(i)
		}
		deadline := time.Now().Add(5 * time.Second)
		for len(l.reqs) < n-1 {
			if time.Now().After(deadline) {
				t.Fatalf("only %d requests queued", len(l.reqs))
			}
			time.Sleep(time.Millisecond)
		}
		close(resume)
		for range n {
			if err := <-errs; !errors.Is(err, injected) {
				t.Fatalf("Append in a failed batch: %v, want the commit error", err)
			}
		}
		if c := calls.Load(); c != 2 {
			t.Fatalf("%d batch transactions for %d failed appends, want 2 (1, then %d together)", c, n, n-1)
		}
		failing.Store(false)
		got, err := l.Append(ctx, sample(3))
		if err != nil || got.Seq != 4 {
			t.Fatalf("Append after failed batches: seq %d, %v; want seq 4", got.Seq, err)
		}
		var stored int
		if err := db.Reader().QueryRow("SELECT COUNT(*) FROM audit_log WHERE request_id LIKE 'doomed-%'").Scan(&stored); err != nil || stored != 0 {
			t.Fatalf("%d entries of failed batches stored (%v)", stored, err)
		}
		if rep := mustVerify(t, db, keys); !rep.OK || rep.Entries != 4 || rep.LastCheckpoint.Seq != 4 {
			t.Fatalf("%s", rep)
		}
	})
}

// AppendTx makes an entry part of the caller's transaction: kept when it
// commits, gone when it rolls back, and it interleaves with Append.
func TestAppendTx(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		_, keys := testKey("k1")
		l := openLog(t, db, Options{CheckpointEvery: 3, CheckpointInterval: -1})
		if _, err := l.Append(ctx, sample(0)); err != nil {
			t.Fatal(err)
		}
		var inTx Entry
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			var err error
			e := sample(1)
			e.Action, e.Attrs = "consent.given", map[string]string{"consent_version": "7"}
			inTx, err = l.AppendTx(ctx, tx, e)
			return err
		})
		if err != nil || inTx.Seq != 2 {
			t.Fatalf("AppendTx committed: seq %d, %v", inTx.Seq, err)
		}
		rollback := errors.New("caller fails after AppendTx")
		err = db.InTx(ctx, func(tx *sql.Tx) error {
			e := sample(2)
			e.RequestID = "rolled-back"
			if _, err := l.AppendTx(ctx, tx, e); err != nil {
				return err
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatal(err)
		}
		next, err := l.Append(ctx, sample(3))
		if err != nil || next.Seq != 3 || !bytes.Equal(next.PrevHash, inTx.Hash) {
			t.Fatalf("Append after AppendTx: seq %d, %v; want seq 3 linked to entry 2", next.Seq, err)
		}
		if got := readEntry(t, db, 2); got.Action != "consent.given" || got.Attrs["consent_version"] != "7" {
			t.Fatalf("entry 2 = %+v", got)
		}
		if rep := mustVerify(t, db, keys); !rep.OK || rep.Entries != 3 || rep.LastCheckpoint.Seq != 3 {
			t.Fatalf("%s", rep)
		}
	})
}

func TestCheckpointInterval(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		_, keys := testKey("k1")
		l := openLog(t, db, Options{CheckpointEvery: -1, CheckpointInterval: 20 * time.Millisecond})
		for i := range 3 {
			if _, err := l.Append(ctx, sample(i)); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		var rep Report
		for {
			rep = mustVerify(t, db, keys)
			if rep.LastCheckpoint != nil && rep.LastCheckpoint.Seq == 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no checkpoint of seq 3 after the interval: %s", rep)
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond) // idle: no new checkpoints
		if again := mustVerify(t, db, keys); again.Checkpoints != rep.Checkpoints {
			t.Fatalf("idle log wrote checkpoints: %s", again)
		}
		cp, err := l.Checkpoint(ctx)
		if err != nil || cp.Seq != 3 || cp.KeyID != "k1" {
			t.Fatalf("Checkpoint on demand = %+v, %v", cp, err)
		}
	})
}

// Append refuses what looks like personal data or free text.
func TestAppendRejectsMisuse(t *testing.T) {
	db := sqldbtest.SQLite(t)
	l := openLog(t, db, Options{CheckpointInterval: -1})
	cases := map[string]func(e *Entry){
		"long attr value":      func(e *Entry) { e.Attrs = map[string]string{"note": strings.Repeat("x", MaxAttrValueLen+1)} },
		"non-ASCII attr value": func(e *Entry) { e.Attrs = map[string]string{"name": "Иванов"} },
		"too many attrs": func(e *Entry) {
			e.Attrs = map[string]string{"a": "1", "b": "1", "c": "1", "d": "1", "e": "1", "f": "1", "g": "1", "h": "1", "i": "1"}
		},
		"bad attr key":          func(e *Entry) { e.Attrs = map[string]string{"full name": "x"} },
		"name as subject":       func(e *Entry) { e.Subject = "Ivan Petrov" },
		"Cyrillic actor id":     func(e *Entry) { e.Actor.ID = "Иван" },
		"unknown actor kind":    func(e *Entry) { e.Actor.Kind = "robot" },
		"empty actor id":        func(e *Entry) { e.Actor.ID = "" },
		"action not dotted":     func(e *Entry) { e.Action = "read" },
		"action upper-case":     func(e *Entry) { e.Action = "PD.read" },
		"action empty segment":  func(e *Entry) { e.Action = "pd..read" },
		"no outcome":            func(e *Entry) { e.Outcome = "" },
		"refused without code":  func(e *Entry) { e.Outcome = OutcomeRefused },
		"free-text reason":      func(e *Entry) { e.Outcome, e.Reason = OutcomeRefused, "the subject said no" },
		"category with a space": func(e *Entry) { e.Categories = []string{"home address"} },
		"free-text purpose":     func(e *Entry) { e.Purpose = "call him back" },
	}
	for name, mutate := range cases {
		e := sample(0)
		mutate(&e)
		if _, err := l.Append(context.Background(), e); fault.KindOf(err) != fault.Invalid {
			t.Errorf("%s: err = %v, want fault.Invalid", name, err)
		}
	}
	e := sample(0)
	e.Outcome, e.Reason, e.Categories = OutcomeRefused, "no_consent", []string{"phone", "name", "phone"}
	got, err := l.Append(context.Background(), e)
	if err != nil || !slices.Equal(got.Categories, []string{"name", "phone"}) {
		t.Fatalf("valid refused entry: %+v, %v", got, err)
	}
}

// The encoding is frozen: stored chains are verified with it for years.
// If this test fails, the change breaks every existing chain.
func TestHashEncodingIsFrozenAndUnambiguous(t *testing.T) {
	e := Entry{Seq: 42, Time: time.Date(2026, 11, 22, 10, 0, 0, 123456000, time.UTC),
		Actor: Actor{Kind: ActorStaff, ID: "staff-1"}, Subject: "subj-1", Action: "pd.read",
		Purpose: "service.delivery", Categories: []string{"name", "phone"}, Outcome: OutcomeOK,
		RequestID: "req-1", Attrs: map[string]string{"consent_version": "3", "channel": "web"}, PrevHash: genesis}
	const golden = "9aae4e9f92c17763683c258d59cc78201183baa6e7315f49ea750fd11844671e"
	if got := hex.EncodeToString(e.Sum()); got != golden {
		t.Errorf("Sum = %s, want %s", got, golden)
	}
	// Moving bytes from one field to the next changes the hash.
	a, b := e, e
	a.Subject, a.Purpose = "subj-1s", "ervice.delivery"
	b.Categories = []string{"namephone"}
	c := e
	c.Attrs = map[string]string{"consent_version": "3channel", "": "web"}
	for i, x := range []Entry{a, b, c} {
		if bytes.Equal(x.Sum(), e.Sum()) {
			t.Errorf("variant %d hashes like the original", i)
		}
	}
	// Time counts to the microsecond, not below.
	d := e
	d.Time = d.Time.Add(999 * time.Nanosecond)
	if !bytes.Equal(d.Sum(), e.Sum()) {
		t.Error("sub-microsecond time changed the hash")
	}
}

func TestOpenChecksOptions(t *testing.T) {
	db := sqldbtest.SQLite(t)
	priv, _ := testKey("k1")
	for name, opts := range map[string]Options{
		"no signer": {KeyID: "k1"},
		"no key id": {Signer: priv},
	} {
		if _, err := Open(context.Background(), db, opts); fault.KindOf(err) != fault.Invalid {
			t.Errorf("%s: %v, want fault.Invalid", name, err)
		}
	}
}

// The fast decoders of stored lists agree with encoding/json on whatever
// they accept (run with -fuzz to explore beyond the seeds).
func FuzzFastDecoders(f *testing.F) {
	for _, s := range []string{`["name","phone"]`, `["a"]`, `["a",]`, `["a"]]`, `[ "a"]`, `["\u00e9"]`, `["é"]`, `[]`,
		`{"consent_version":"3"}`, `{"a":"1","a":"2"}`, `{"a":"1",}`, `{"a":1}`, `{"a":"x\"y"}`, `{}`, `{"a""b"}`, `"x"`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, ok := fastList(s); ok {
			var want []string
			if err := json.Unmarshal([]byte(s), &want); err != nil || !slices.Equal(got, want) {
				t.Errorf("fastList(%q) = %q, encoding/json: %q, %v", s, got, want, err)
			}
		}
		if got, ok := fastMap(s); ok {
			var want map[string]string
			if err := json.Unmarshal([]byte(s), &want); err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("fastMap(%q) = %v, encoding/json: %v, %v", s, got, want, err)
			}
		}
	})
}
