package jobs_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"kabinet/internal/fault"
	"kabinet/internal/jobs"
	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
)

// clock is a settable clock shared by a test's queues.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 11, 22, 10, 0, 30, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fast is a Config that polls often, so tests wait milliseconds.
func fast() jobs.Config {
	return jobs.Config{Concurrency: 4, PollInterval: 5 * time.Millisecond, Lease: 5 * time.Second, ShutdownGrace: time.Second}
}

// start runs r until the returned stop is called (or the test ends) and
// returns stop, which reports Run's error.
func start(t *testing.T, r *jobs.Runner) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = errors.New("Run did not return 30s after its context ended")
			}
		})
		return err
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return stop
}

// waitFor polls job id until ok accepts it, failing the test after 15s.
func waitFor(t *testing.T, q *jobs.Queue, id int64, what string, ok func(jobs.Info) bool) jobs.Info {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		in, err := q.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("Get(%d): %v", id, err)
		}
		if ok(in) {
			return in
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d never became %s; last seen %+v", id, what, in)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func inState(s jobs.State) func(jobs.Info) bool {
	return func(in jobs.Info) bool { return in.State == s }
}

func enqueue(t *testing.T, q *jobs.Queue, spec jobs.Spec) int64 {
	t.Helper()
	id, err := q.Enqueue(context.Background(), spec)
	if err != nil {
		t.Fatalf("Enqueue(%+v): %v", spec, err)
	}
	return id
}

func TestJobRunsAndIsRecordedDone(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		clk := newClock()
		q := jobs.NewQueue(db, clk.Now)
		got := make(chan jobs.Job, 1)
		r := jobs.NewRunner(q, fast())
		r.Handle("consent.expire", func(ctx context.Context, j jobs.Job) error {
			got <- j
			return nil
		})
		id := enqueue(t, q, jobs.Spec{Kind: "consent.expire", Payload: []byte(`{"consent":42}`)})
		before, err := q.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if before.State != jobs.Queued || before.MaxAttempts != jobs.DefaultMaxAttempts || !before.RunAt.Equal(clk.Now()) {
			t.Errorf("enqueued job = %+v, want queued, due now, %d attempts", before, jobs.DefaultMaxAttempts)
		}
		start(t, r)
		j := <-got
		if j.ID != id || j.Kind != "consent.expire" || string(j.Payload) != `{"consent":42}` || j.Attempt != 1 || j.MaxAttempts != jobs.DefaultMaxAttempts {
			t.Errorf("handler got %+v", j)
		}
		in := waitFor(t, q, id, "done", inState(jobs.Done))
		if in.Attempts != 1 || !in.FinishedAt.Equal(clk.Now()) || in.LeaseOwner != "" || !in.LeaseUntil.IsZero() || in.LastError != "" {
			t.Errorf("done job = %+v", in)
		}
	})
}

func TestFutureJobWaitsForItsTime(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		clk := newClock()
		q := jobs.NewQueue(db, clk.Now)
		r := jobs.NewRunner(q, fast())
		ran := make(chan time.Time, 1)
		r.Handle("alarm", func(ctx context.Context, j jobs.Job) error {
			ran <- clk.Now()
			return nil
		})
		due := clk.Now().Add(time.Hour)
		id := enqueue(t, q, jobs.Spec{Kind: "alarm", RunAt: due})
		start(t, r)
		time.Sleep(50 * time.Millisecond) // ten polls
		if in, _ := q.Get(context.Background(), id); in.State != jobs.Queued || in.Attempts != 0 {
			t.Fatalf("job due in an hour was touched: %+v", in)
		}
		clk.Advance(time.Hour)
		if at := <-ran; at.Before(due) {
			t.Errorf("ran at %v, before its time %v", at, due)
		}
		waitFor(t, q, id, "done", inState(jobs.Done))
	})
}

func TestDedupeKeyMakesEnqueueIdempotent(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		q := jobs.NewQueue(db, nil)
		first := enqueue(t, q, jobs.Spec{Kind: "notify", DedupeKey: "notify:request:7"})
		other := enqueue(t, q, jobs.Spec{Kind: "notify", DedupeKey: "notify:request:8"})
		if other == first {
			t.Fatalf("different keys gave the same id %d", first)
		}
		ids := make([]int64, 8)
		errs := make([]error, 8)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() {
				ids[i], errs[i] = q.Enqueue(ctx, jobs.Spec{Kind: "notify", DedupeKey: "notify:request:7", Payload: []byte("x")})
			})
		}
		wg.Wait()
		for i := range ids {
			if errs[i] != nil || ids[i] != first {
				t.Errorf("concurrent enqueue %d: id %d, err %v; want %d", i, ids[i], errs[i], first)
			}
		}
		var n int
		if err := db.Reader().QueryRowContext(ctx, "SELECT COUNT(*) FROM jobs").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("jobs table has %d rows, want 2", n)
		}
		if in, _ := q.Get(ctx, first); len(in.Payload) != 0 || in.DedupeKey != "notify:request:7" {
			t.Errorf("a duplicate enqueue changed the job: %+v", in)
		}
	})
}

func TestEnqueueTxLivesAndDiesWithTheTransaction(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		q := jobs.NewQueue(db, nil)
		var rolledBack int64
		boom := errors.New("boom")
		err := db.InTx(ctx, func(tx *sql.Tx) error {
			var err error
			if rolledBack, err = q.EnqueueTx(ctx, tx, jobs.Spec{Kind: "k", DedupeKey: "once"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx = %v, want boom", err)
		}
		if _, err := q.Get(ctx, rolledBack); !errors.Is(err, fault.ErrNotFound) {
			t.Errorf("job of a rolled-back transaction: Get = %v, want not found", err)
		}
		var committed int64
		err = db.InTx(ctx, func(tx *sql.Tx) error {
			var err error
			committed, err = q.EnqueueTx(ctx, tx, jobs.Spec{Kind: "k", DedupeKey: "once"})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if in, err := q.Get(ctx, committed); err != nil || in.State != jobs.Queued {
			t.Errorf("committed job: %+v, %v", in, err)
		}
	})
}

func TestInvalidSpecIsRejected(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		q := jobs.NewQueue(db, nil)
		for _, spec := range []jobs.Spec{{}, {Kind: "k", MaxAttempts: -1}} {
			if _, err := q.Enqueue(context.Background(), spec); fault.KindOf(err) != fault.Invalid {
				t.Errorf("Enqueue(%+v) = %v, want invalid", spec, err)
			}
		}
	})
}

func TestFailedJobIsRetriedAfterBackoff(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		clk := newClock()
		q := jobs.NewQueue(db, clk.Now)
		cfg := fast()
		cfg.Backoff = func(n int) time.Duration { return time.Duration(n) * time.Minute }
		r := jobs.NewRunner(q, cfg)
		var mu sync.Mutex
		var attempts []int
		r.Handle("deliver", func(ctx context.Context, j jobs.Job) error {
			mu.Lock()
			attempts = append(attempts, j.Attempt)
			mu.Unlock()
			if j.Attempt < 3 {
				return fmt.Errorf("gateway answered 503 on attempt %d", j.Attempt)
			}
			return nil
		})
		id := enqueue(t, q, jobs.Spec{Kind: "deliver"})
		start(t, r)

		for n := 1; n <= 2; n++ {
			failedAt := clk.Now()
			in := waitFor(t, q, id, fmt.Sprintf("failed %d times", n), func(in jobs.Info) bool { return in.State == jobs.Queued && in.Attempts == n })
			if want := failedAt.Add(time.Duration(n) * time.Minute); !in.RunAt.Equal(want) {
				t.Errorf("after attempt %d: run_at %v, want %v", n, in.RunAt, want)
			}
			if want := fmt.Sprintf("gateway answered 503 on attempt %d", n); in.LastError != want {
				t.Errorf("after attempt %d: last_error %q, want %q", n, in.LastError, want)
			}
			time.Sleep(30 * time.Millisecond)
			if in, _ := q.Get(context.Background(), id); in.Attempts != n {
				t.Fatalf("job retried before its backoff: %+v", in)
			}
			clk.Advance(time.Duration(n) * time.Minute)
		}
		in := waitFor(t, q, id, "done", inState(jobs.Done))
		if in.Attempts != 3 || in.LastError != "gateway answered 503 on attempt 2" {
			t.Errorf("done job = %+v, want 3 attempts and the last failure kept", in)
		}
		mu.Lock()
		defer mu.Unlock()
		if fmt.Sprint(attempts) != "[1 2 3]" {
			t.Errorf("handler saw attempts %v, want [1 2 3]", attempts)
		}
	})
}

func TestRetryAfterOverridesBackoff(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		clk := newClock()
		q := jobs.NewQueue(db, clk.Now)
		r := jobs.NewRunner(q, fast())
		r.Handle("deliver", func(ctx context.Context, j jobs.Job) error {
			return jobs.RetryAfter(errors.New("rate limited"), 7*time.Minute)
		})
		id := enqueue(t, q, jobs.Spec{Kind: "deliver"})
		now := clk.Now()
		start(t, r)
		in := waitFor(t, q, id, "retried", func(in jobs.Info) bool { return in.Attempts == 1 && in.State == jobs.Queued })
		if !in.RunAt.Equal(now.Add(7*time.Minute)) || in.LastError != "rate limited" {
			t.Errorf("job = %+v, want run_at now+7m", in)
		}
	})
}

func TestJobsDieAndCanBeRetried(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		q := jobs.NewQueue(db, nil)
		cfg := fast()
		cfg.Backoff = func(int) time.Duration { return 0 }
		r := jobs.NewRunner(q, cfg)
		var mu sync.Mutex
		fixed := false
		runs := map[int64]int{}
		r.Handle("flaky", func(ctx context.Context, j jobs.Job) error {
			mu.Lock()
			defer mu.Unlock()
			runs[j.ID]++
			if fixed {
				return nil
			}
			return errors.New("still broken")
		})
		r.Handle("bad", func(ctx context.Context, j jobs.Job) error {
			mu.Lock()
			defer mu.Unlock()
			runs[j.ID]++
			return jobs.Permanent(fmt.Errorf("payload %q is not a request id", j.Payload))
		})
		exhausted := enqueue(t, q, jobs.Spec{Kind: "flaky", MaxAttempts: 3})
		permanent := enqueue(t, q, jobs.Spec{Kind: "bad", Payload: []byte("x")})
		start(t, r)

		in := waitFor(t, q, exhausted, "dead", inState(jobs.Dead))
		if in.Attempts != 3 || in.LastError != "still broken" || in.FinishedAt.IsZero() {
			t.Errorf("exhausted job = %+v", in)
		}
		in = waitFor(t, q, permanent, "dead", inState(jobs.Dead))
		if in.Attempts != 1 || in.LastError != `payload "x" is not a request id` {
			t.Errorf("permanently failed job = %+v", in)
		}
		time.Sleep(30 * time.Millisecond)
		mu.Lock()
		if runs[exhausted] != 3 || runs[permanent] != 1 {
			t.Errorf("runs = %v, want 3 for the exhausted job and 1 for the permanent failure", runs)
		}
		fixed = true
		mu.Unlock()

		if err := q.Retry(ctx, exhausted); err != nil {
			t.Fatalf("Retry: %v", err)
		}
		in = waitFor(t, q, exhausted, "done", inState(jobs.Done))
		if in.Attempts != 1 {
			t.Errorf("retried job = %+v, want a fresh first attempt", in)
		}
		if err := q.Retry(ctx, exhausted); fault.KindOf(err) != fault.Conflict {
			t.Errorf("Retry of a done job = %v, want conflict", err)
		}
		if err := q.Retry(ctx, 999999); !errors.Is(err, fault.ErrNotFound) {
			t.Errorf("Retry of a missing job = %v, want not found", err)
		}
	})
}

func TestPanicAndTimeoutAreFailures(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		q := jobs.NewQueue(db, nil)
		cfg := fast()
		cfg.Timeout = 50 * time.Millisecond
		cfg.Backoff = func(int) time.Duration { return 0 }
		r := jobs.NewRunner(q, cfg)
		r.Handle("panics", func(ctx context.Context, j jobs.Job) error {
			if j.Attempt == 1 {
				panic("handler bug")
			}
			return nil
		})
		r.Handle("hangs", func(ctx context.Context, j jobs.Job) error {
			<-ctx.Done()
			return ctx.Err()
		})
		panicky := enqueue(t, q, jobs.Spec{Kind: "panics"})
		hung := enqueue(t, q, jobs.Spec{Kind: "hangs", MaxAttempts: 1})
		start(t, r)
		in := waitFor(t, q, panicky, "done", inState(jobs.Done))
		if in.Attempts != 2 || !strings.HasPrefix(in.LastError, "panic: ") {
			t.Errorf("job that panicked once = %+v", in)
		}
		in = waitFor(t, q, hung, "dead", inState(jobs.Dead))
		if !strings.Contains(in.LastError, "deadline exceeded") {
			t.Errorf("job that timed out = %+v", in)
		}
	})
}

// A worker that claims a job and dies leaves a lease; when it expires
// another worker runs the job, and the dead worker's late word is refused.
func TestCrashedWorkersJobIsTakenOver(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		clk := newClock()
		q := jobs.NewQueue(db, clk.Now)
		id := enqueue(t, q, jobs.Spec{Kind: "retention"})
		last := enqueue(t, q, jobs.Spec{Kind: "retention", MaxAttempts: 1})
		claims, err := q.ClaimLike(ctx, "crashed", []string{"retention"}, 10, 30*time.Second)
		if err != nil || len(claims) != 2 {
			t.Fatalf("claim = %d jobs, %v; want 2", len(claims), err)
		}

		r := jobs.NewRunner(q, fast())
		attempts := make(chan int, 10)
		r.Handle("retention", func(ctx context.Context, j jobs.Job) error {
			attempts <- j.Attempt
			return nil
		})
		start(t, r)
		time.Sleep(50 * time.Millisecond)
		if in, _ := q.Get(ctx, id); in.State != jobs.Running || in.LeaseOwner != "crashed" {
			t.Fatalf("job under a live lease = %+v, want running for the crashed worker", in)
		}
		clk.Advance(31 * time.Second)
		in := waitFor(t, q, id, "done", inState(jobs.Done))
		if in.Attempts != 2 {
			t.Errorf("taken-over job = %+v, want 2 attempts", in)
		}
		if a := <-attempts; a != 2 {
			t.Errorf("handler saw attempt %d, want 2", a)
		}
		// The job whose only attempt was lost is buried, not run again.
		in = waitFor(t, q, last, "dead", inState(jobs.Dead))
		if in.Attempts != 1 || !strings.Contains(in.LastError, "lease expired") {
			t.Errorf("job that lost its last attempt = %+v", in)
		}
		select {
		case a := <-attempts:
			t.Errorf("an extra attempt %d ran", a)
		default:
		}
		for i := range claims {
			if held, err := q.CompleteLate(ctx, &claims[i]); err != nil || held {
				t.Errorf("crashed worker's late completion of job %d: held=%v err=%v, want refused", claims[i].ID, held, err)
			}
		}
		if in, _ := q.Get(ctx, last); in.State != jobs.Dead {
			t.Errorf("late completion changed a dead job: %+v", in)
		}
	})
}

// A job longer than its lease keeps it by renewal: a second worker does not
// run it meanwhile.
func TestLeaseIsRenewedWhileTheJobRuns(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		q := jobs.NewQueue(db, nil)
		var mu sync.Mutex
		runs := 0
		handler := func(ctx context.Context, j jobs.Job) error {
			mu.Lock()
			runs++
			mu.Unlock()
			select {
			case <-time.After(1500 * time.Millisecond):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		for range 2 {
			cfg := fast()
			cfg.Lease = 600 * time.Millisecond
			r := jobs.NewRunner(q, cfg)
			r.Handle("slow", handler)
			start(t, r)
		}
		id := enqueue(t, q, jobs.Spec{Kind: "slow"})
		in := waitFor(t, q, id, "done", inState(jobs.Done))
		mu.Lock()
		defer mu.Unlock()
		if runs != 1 || in.Attempts != 1 {
			t.Errorf("a 1.5s job under a 600ms lease ran %d times (%d attempts), want once", runs, in.Attempts)
		}
	})
}

// When the lease passes to someone else, the handler is stopped and its
// outcome is not recorded over the new holder's.
func TestLostLeaseStopsTheHandler(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		q := jobs.NewQueue(db, nil)
		cfg := fast()
		cfg.Lease = 150 * time.Millisecond
		r := jobs.NewRunner(q, cfg)
		running := make(chan struct{})
		stopped := make(chan error, 1)
		r.Handle("long", func(ctx context.Context, j jobs.Job) error {
			close(running)
			<-ctx.Done()
			stopped <- context.Cause(ctx)
			return nil // claims success: must be ignored
		})
		id := enqueue(t, q, jobs.Spec{Kind: "long"})
		start(t, r)
		<-running
		// Another worker took the job over (as after an expired lease).
		if _, err := db.Writer().ExecContext(ctx, "UPDATE jobs SET lease_owner = 'other', lease_token = 'other' WHERE id = $1", id); err != nil {
			t.Fatal(err)
		}
		select {
		case cause := <-stopped:
			if cause == nil || errors.Is(cause, jobs.ErrShutdown) {
				t.Errorf("handler stopped with cause %v, want a lost lease", cause)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("handler not stopped after its lease was taken")
		}
		time.Sleep(50 * time.Millisecond)
		if in, _ := q.Get(ctx, id); in.State != jobs.Running || in.LeaseOwner != "other" {
			t.Errorf("job after the old holder finished = %+v, want still running for the new holder", in)
		}
	})
}

func TestShutdownFinishesOrReturnsRunningJobs(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		q := jobs.NewQueue(db, nil)
		cfg := fast()
		cfg.ShutdownGrace = 200 * time.Millisecond
		r := jobs.NewRunner(q, cfg)
		started := make(chan struct{}, 2)
		causes := make(chan error, 1)
		r.Handle("quick", func(ctx context.Context, j jobs.Job) error {
			started <- struct{}{}
			time.Sleep(50 * time.Millisecond) // within the grace period
			return ctx.Err()
		})
		r.Handle("stubborn", func(ctx context.Context, j jobs.Job) error {
			started <- struct{}{}
			<-ctx.Done()
			causes <- context.Cause(ctx)
			return ctx.Err()
		})
		quick := enqueue(t, q, jobs.Spec{Kind: "quick"})
		stubborn := enqueue(t, q, jobs.Spec{Kind: "stubborn"})
		stop := start(t, r)
		<-started
		<-started
		t0 := time.Now()
		if err := stop(); err != nil {
			t.Fatalf("Run = %v, want nil after shutdown", err)
		}
		if d := time.Since(t0); d < 150*time.Millisecond {
			t.Errorf("Run returned after %v, before the grace period", d)
		}
		if cause := <-causes; !errors.Is(cause, jobs.ErrShutdown) {
			t.Errorf("stubborn handler's context cause = %v, want ErrShutdown", cause)
		}
		if in, _ := q.Get(ctx, quick); in.State != jobs.Done {
			t.Errorf("job that finished within the grace period = %+v, want done", in)
		}
		in, _ := q.Get(ctx, stubborn)
		if in.State != jobs.Queued || in.Attempts != 0 || in.LeaseOwner != "" {
			t.Errorf("interrupted job = %+v, want queued again with its attempt uncounted", in)
		}
		if err := r.Run(ctx); err == nil {
			t.Error("second Run succeeded")
		}
	})
}

func TestRunnerLeavesKindsItDoesNotKnow(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		q := jobs.NewQueue(db, nil)
		r := jobs.NewRunner(q, fast())
		r.Handle("known", func(context.Context, jobs.Job) error { return nil })
		unknown := enqueue(t, q, jobs.Spec{Kind: "from.a.newer.version"})
		known := enqueue(t, q, jobs.Spec{Kind: "known"})
		start(t, r)
		waitFor(t, q, known, "done", inState(jobs.Done))
		time.Sleep(30 * time.Millisecond)
		if in, _ := q.Get(context.Background(), unknown); in.State != jobs.Queued || in.Attempts != 0 {
			t.Errorf("job of an unknown kind = %+v, want untouched", in)
		}
	})
}

// Several kabinet processes on one database run each job exactly once
// (no crashes, leases long enough).
func TestSeveralProcessesShareTheWork(t *testing.T) {
	for _, engine := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", sqldbtest.SQLiteURL}, {"postgres", sqldbtest.PostgresURL}} {
		t.Run(engine.name, func(t *testing.T) {
			url := engine.url(t)
			const processes, total = 3, 300
			var mu sync.Mutex
			runs := map[int64]int{}
			byProcess := make([]int, processes)
			var queues []*jobs.Queue
			for p := range processes {
				q := jobs.NewQueue(sqldbtest.Open(t, url), nil)
				queues = append(queues, q)
				r := jobs.NewRunner(q, fast())
				r.Handle("work", func(ctx context.Context, j jobs.Job) error {
					mu.Lock()
					defer mu.Unlock()
					runs[j.ID]++
					byProcess[p]++
					return nil
				})
				start(t, r)
			}
			ctx := context.Background()
			for i := range total {
				enqueue(t, queues[i%processes], jobs.Spec{Kind: "work", Payload: fmt.Appendf(nil, "%d", i)})
			}
			db := sqldbtest.Open(t, url)
			deadline := time.Now().Add(60 * time.Second)
			for {
				var done int
				if err := db.Reader().QueryRowContext(ctx, "SELECT COUNT(*) FROM jobs WHERE state = 'done'").Scan(&done); err != nil {
					t.Fatal(err)
				}
				if done == total {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d jobs done after 60s", done, total)
				}
				time.Sleep(10 * time.Millisecond)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(runs) != total {
				t.Errorf("%d distinct jobs ran, want %d", len(runs), total)
			}
			for id, n := range runs {
				if n != 1 {
					t.Errorf("job %d ran %d times", id, n)
				}
			}
			t.Logf("jobs run per process: %v", byProcess)
		})
	}
}

func TestEveryRunsOncePerSlotAcrossProcesses(t *testing.T) {
	for _, engine := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", sqldbtest.SQLiteURL}, {"postgres", sqldbtest.PostgresURL}} {
		t.Run(engine.name, func(t *testing.T) {
			url := engine.url(t)
			clk := newClock() // 10:00:30
			var mu sync.Mutex
			runs := map[time.Time]int{}
			observer := sqldbtest.Open(t, url)
			for range 2 {
				q := jobs.NewQueue(sqldbtest.Open(t, url), clk.Now)
				r := jobs.NewRunner(q, fast())
				r.Every("consent.sweep", time.Minute, func(ctx context.Context, j jobs.Job) error {
					mu.Lock()
					defer mu.Unlock()
					runs[j.RunAt]++
					return nil
				})
				start(t, r)
			}
			slot := func(hhmm string) time.Time {
				at, _ := time.Parse("2006-01-02 15:04", "2026-11-22 "+hhmm)
				return at
			}
			waitRuns := func(want map[time.Time]int) {
				t.Helper()
				deadline := time.Now().Add(15 * time.Second)
				for {
					mu.Lock()
					got := fmt.Sprint(runs)
					mu.Unlock()
					if got == fmt.Sprint(want) {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("periodic runs = %s, want %v", got, want)
					}
					time.Sleep(5 * time.Millisecond)
				}
				// Every outcome recorded before the clock moves on: a jump past
				// a lease still held would (rightly) hand the job to another
				// worker and run it again.
				for {
					var open int
					if err := observer.Reader().QueryRow("SELECT COUNT(*) FROM jobs WHERE state <> 'done'").Scan(&open); err != nil {
						t.Fatal(err)
					}
					if open == 0 {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("%d periodic jobs not done", open)
					}
					time.Sleep(5 * time.Millisecond)
				}
				time.Sleep(50 * time.Millisecond) // let any duplicate show itself
				mu.Lock()
				defer mu.Unlock()
				if got := fmt.Sprint(runs); got != fmt.Sprint(want) {
					t.Fatalf("periodic runs = %s, want %v", got, want)
				}
			}
			waitRuns(map[time.Time]int{slot("10:00"): 1})
			clk.Advance(time.Minute)
			waitRuns(map[time.Time]int{slot("10:00"): 1, slot("10:01"): 1})
			clk.Advance(3 * time.Minute) // 10:04:30: missed slots are not caught up
			waitRuns(map[time.Time]int{slot("10:00"): 1, slot("10:01"): 1, slot("10:04"): 1})
		})
	}
}

func TestPruneDeletesOldFinishedJobs(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		clk := newClock()
		q := jobs.NewQueue(db, clk.Now)
		r := jobs.NewRunner(q, fast())
		r.Handle("ok", func(context.Context, jobs.Job) error { return nil })
		r.Handle("bad", func(context.Context, jobs.Job) error { return jobs.Permanent(errors.New("no")) })
		start(t, r)
		oldDone := enqueue(t, q, jobs.Spec{Kind: "ok", DedupeKey: "k"})
		oldDead := enqueue(t, q, jobs.Spec{Kind: "bad"})
		waitFor(t, q, oldDone, "done", inState(jobs.Done))
		waitFor(t, q, oldDead, "dead", inState(jobs.Dead))
		clk.Advance(time.Hour)
		recent := enqueue(t, q, jobs.Spec{Kind: "ok"})
		waitFor(t, q, recent, "done", inState(jobs.Done))
		waiting := enqueue(t, q, jobs.Spec{Kind: "ok", RunAt: clk.Now().Add(time.Hour)})

		n, err := q.Prune(ctx, clk.Now().Add(-30*time.Minute))
		if err != nil || n != 2 {
			t.Fatalf("Prune = %d, %v; want 2", n, err)
		}
		for _, id := range []int64{oldDone, oldDead} {
			if _, err := q.Get(ctx, id); !errors.Is(err, fault.ErrNotFound) {
				t.Errorf("pruned job %d: Get = %v, want not found", id, err)
			}
		}
		for _, id := range []int64{recent, waiting} {
			if _, err := q.Get(ctx, id); err != nil {
				t.Errorf("kept job %d: %v", id, err)
			}
		}
		if again := enqueue(t, q, jobs.Spec{Kind: "ok", DedupeKey: "k"}); again == oldDone {
			t.Error("a pruned job's dedupe key still returns the pruned id")
		}
	})
}

func TestStoredErrorIsBoundedAndValidUTF8(t *testing.T) {
	long := errors.New(strings.Repeat("я", 3000)) // 6000 bytes
	s := jobs.ErrorText(long)
	if len(s) > 2000+len("…") || !utf8.ValidString(s) || !strings.HasSuffix(s, "…") {
		t.Errorf("ErrorText of a 6000-byte error: %d bytes, valid %v", len(s), utf8.ValidString(s))
	}
	if got := jobs.ErrorText(errors.New("bad \xff byte")); !utf8.ValidString(got) {
		t.Errorf("ErrorText kept invalid UTF-8: %q", got)
	}
}

func TestHandleRejectsWiringMistakes(t *testing.T) {
	q := jobs.NewQueue(nil, nil)
	h := func(context.Context, jobs.Job) error { return nil }
	for name, f := range map[string]func(r *jobs.Runner){
		"empty kind":    func(r *jobs.Runner) { r.Handle("", h) },
		"nil handler":   func(r *jobs.Runner) { r.Handle("k", nil) },
		"twice":         func(r *jobs.Runner) { r.Handle("k", h); r.Handle("k", h) },
		"zero interval": func(r *jobs.Runner) { r.Every("k", 0, h) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f(jobs.NewRunner(q, jobs.Config{}))
		}()
	}
}

func TestDefaultBackoffGrowsAndIsCapped(t *testing.T) {
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 5: 16 * time.Second, 13: time.Hour, 100: time.Hour} {
		got := jobs.DefaultBackoff(n)
		if got < want*8/10 || got > want*12/10 {
			t.Errorf("DefaultBackoff(%d) = %v, want %v ± 20%%", n, got, want)
		}
	}
}

func BenchmarkEnqueue(b *testing.B) {
	for _, engine := range []struct {
		name string
		open func(testing.TB) *sqldb.DB
	}{{"sqlite", sqldbtest.SQLite}, {"postgres", sqldbtest.Postgres}} {
		b.Run(engine.name, func(b *testing.B) {
			q := jobs.NewQueue(engine.open(b), nil)
			ctx := context.Background()
			payload := bytes.Repeat([]byte("x"), 64)
			for b.Loop() {
				if _, err := q.Enqueue(ctx, jobs.Spec{Kind: "bench", Payload: payload}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRun measures claim + run + completion of no-op jobs already in
// the queue: the per-job overhead of the machinery.
func BenchmarkRun(b *testing.B) {
	for _, engine := range []struct {
		name string
		open func(testing.TB) *sqldb.DB
	}{{"sqlite", sqldbtest.SQLite}, {"postgres", sqldbtest.Postgres}} {
		b.Run(engine.name, func(b *testing.B) {
			db := engine.open(b)
			q := jobs.NewQueue(db, nil)
			ctx := context.Background()
			err := db.InTx(ctx, func(tx *sql.Tx) error {
				for range b.N {
					if _, err := q.EnqueueTx(ctx, tx, jobs.Spec{Kind: "bench"}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			var mu sync.Mutex
			left := b.N
			all := make(chan struct{})
			cfg := fast()
			cfg.Concurrency = 8
			r := jobs.NewRunner(q, cfg)
			r.Handle("bench", func(context.Context, jobs.Job) error {
				mu.Lock()
				defer mu.Unlock()
				if left--; left == 0 {
					close(all)
				}
				return nil
			})
			b.ResetTimer()
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan error)
			go func() { done <- r.Run(rctx) }()
			<-all
			cancel() // Run records the outcomes still in flight before returning
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
		})
	}
}
