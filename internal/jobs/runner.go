package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"kabinet/internal/sqldb"
)

// Handler does one job. Returning nil marks it done; an error schedules a
// retry after the Runner's backoff (or as RetryAfter says), and after the
// last attempt — or at once for a Permanent error — the job is dead. A
// panic counts as an error.
//
// ctx ends when the attempt times out, when the lease is lost to another
// worker, or when the process shuts down and its grace period is over; a
// handler must then return promptly, since shutdown waits for it.
type Handler func(ctx context.Context, job Job) error

// Config tunes a Runner. A zero or negative field takes its default.
type Config struct {
	// Concurrency is how many jobs this Runner runs at once. Default 4.
	Concurrency int
	// PollInterval is how often an idle Runner looks for due jobs. Jobs
	// enqueued by Queue.Enqueue in this process start at once; others
	// (EnqueueTx, other processes, RunAt in the future) within about one
	// interval. Default 1s.
	PollInterval time.Duration
	// Lease is how long a claim lasts without renewal; a running job's
	// lease is renewed every Lease/3. It bounds how long a crashed
	// process's jobs wait before another worker takes them over, and it
	// must exceed the clock skew between processes. Default 30s.
	Lease time.Duration
	// Timeout bounds one attempt. Default 5m.
	Timeout time.Duration
	// ShutdownGrace is how long running jobs may go on after Run's context
	// ends before their contexts are cancelled. Default 10s.
	ShutdownGrace time.Duration
	// Backoff gives the delay before the next attempt after attempt number
	// n (1-based) failed. Default: 1s doubling per attempt, capped at 1h,
	// ±20% jitter so that jobs failing together do not retry together.
	Backoff func(n int) time.Duration
	// Logger receives failures and lease losses. Default: discard.
	Logger *slog.Logger
	// Owner names this worker in lease_owner, for operators. Default:
	// host name, process id and a random suffix.
	Owner string
}

// everyMaxAttempts is the attempts of one run of a periodic job: the next
// slot brings a fresh run anyway.
const everyMaxAttempts = 3

// ErrShutdown is the cause (context.Cause) of a handler context cancelled
// because the process is stopping. The job goes back to the queue without
// counting the attempt.
var ErrShutdown = errors.New("jobs: runner shutting down")

// errLeaseLost is the cause of a handler context cancelled because the
// job's lease passed to another worker.
var errLeaseLost = errors.New("jobs: lease lost")

type periodic struct {
	kind  string
	every time.Duration
}

// Runner claims due jobs from a Queue and runs their handlers. Register
// handlers with Handle and Every, then call Run once.
type Runner struct {
	q        *Queue
	cfg      Config
	handlers map[string]Handler
	periodic []periodic
	started  atomic.Bool
}

// NewRunner returns a Runner on q with cfg's defaults filled in.
func NewRunner(q *Queue, cfg Config) *Runner {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Minute
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 10 * time.Second
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Owner == "" {
		host, _ := os.Hostname()
		cfg.Owner = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), newToken()[:8])
	}
	return &Runner{q: q, cfg: cfg, handlers: map[string]Handler{}}
}

// DefaultBackoff is the Backoff used when Config leaves it nil.
func DefaultBackoff(n int) time.Duration {
	d := time.Hour
	if n < 13 { // 2^12 s > 1h
		d = min(time.Second<<max(n-1, 0), time.Hour)
	}
	return time.Duration(float64(d) * (0.8 + 0.4*mrand.Float64()))
}

// Handle registers h for jobs of kind. The Runner claims only kinds it has
// handlers for, so a process that does not know a kind (an older version
// during a rolling update) leaves those jobs to one that does. It panics on
// an empty kind, a nil handler, a kind registered twice, or a call after
// Run has started — wiring mistakes, like http.ServeMux's.
func (r *Runner) Handle(kind string, h Handler) {
	switch {
	case r.started.Load():
		panic("jobs: Handle called after Run")
	case kind == "":
		panic("jobs: Handle with empty kind")
	case h == nil:
		panic("jobs: Handle " + kind + " with nil handler")
	}
	if _, dup := r.handlers[kind]; dup {
		panic("jobs: kind " + kind + " registered twice")
	}
	r.handlers[kind] = h
}

// Every registers h for kind and runs it once per interval: intervals are
// aligned to the Unix epoch (every 24h starts at 00:00 UTC), and each
// running Runner enqueues the job for the current slot, due at the slot's
// start, with a dedupe key naming the slot, so all processes together run
// it once per slot. A slot that began while no process was running runs
// when one starts; earlier missed slots are not caught up. The Job has an
// empty payload and RunAt at the slot's start; a run may overlap the next
// slot's if it lasts longer than interval. Panics like Handle, and on an
// interval shorter than a second (a durable schedule for sub-second work
// would be mostly bookkeeping).
func (r *Runner) Every(kind string, interval time.Duration, h Handler) {
	if interval < time.Second {
		panic("jobs: Every " + kind + " with an interval under a second")
	}
	r.Handle(kind, h)
	r.periodic = append(r.periodic, periodic{kind: kind, every: interval})
}

// Run claims and runs jobs until ctx ends, then stops claiming, lets
// running jobs finish (cancelling their contexts after ShutdownGrace),
// records their outcomes and returns nil. Database failures while polling
// are logged and retried at the next poll, not returned: background work
// outlives a database restart. Run may be called only once.
func (r *Runner) Run(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("jobs: Runner.Run called twice")
	}
	kinds := make([]string, 0, len(r.handlers))
	for k := range r.handlers {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)

	// Handlers' contexts keep ctx's values but not its cancellation: on
	// shutdown they get ShutdownGrace to finish first.
	base, stop := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stop(nil)
	var wg sync.WaitGroup
	finished := make(chan struct{}, r.cfg.Concurrency)
	inflight := 0
	lastSlot := map[string]int64{}
	timer := time.NewTimer(r.cfg.PollInterval)
	defer timer.Stop()

	for ctx.Err() == nil {
		// Count every slot freed so far, so that one claim fills them all.
		for drained := false; !drained; {
			select {
			case <-finished:
				inflight--
			default:
				drained = true
			}
		}
		r.schedule(ctx, lastSlot)
		if free := r.cfg.Concurrency - inflight; free > 0 {
			jobs, err := r.q.claim(ctx, r.cfg.Owner, kinds, free, r.cfg.Lease)
			if err != nil && ctx.Err() == nil {
				r.cfg.Logger.Warn("jobs: claim failed", "err", err)
			}
			for i := range jobs {
				c := &jobs[i]
				inflight++
				wg.Go(func() {
					r.work(base, c)
					finished <- struct{}{}
				})
			}
		}
		// With every slot busy there may be more due work: poll again as
		// soon as a slot frees. Otherwise wait for the timer or a nudge.
		saturated := inflight == r.cfg.Concurrency
		timer.Reset(r.cfg.PollInterval)
	wait:
		for {
			select {
			case <-ctx.Done():
				break wait
			case <-finished:
				inflight--
				if saturated {
					break wait
				}
			case <-timer.C:
				break wait
			case <-r.q.wake:
				break wait
			}
		}
	}

	grace := time.AfterFunc(r.cfg.ShutdownGrace, func() { stop(ErrShutdown) })
	wg.Wait()
	grace.Stop()
	return nil
}

// schedule enqueues the current slot's job of each periodic kind, once per
// slot per Runner; the dedupe key makes the other processes' inserts no-ops.
func (r *Runner) schedule(ctx context.Context, last map[string]int64) {
	if len(r.periodic) == 0 {
		return
	}
	now := r.q.now()
	for _, p := range r.periodic {
		step := p.every.Microseconds()
		slot := sqldb.Micros(now) / step
		if s, ok := last[p.kind]; ok && s >= slot {
			continue
		}
		spec := Spec{
			Kind:        p.kind,
			RunAt:       sqldb.FromMicros(slot * step),
			DedupeKey:   fmt.Sprintf("every:%s:%s:%d", p.kind, p.every, slot),
			MaxAttempts: everyMaxAttempts,
		}
		if _, err := r.q.Enqueue(ctx, spec); err != nil {
			if ctx.Err() == nil {
				r.cfg.Logger.Warn("jobs: schedule periodic job failed", "kind", p.kind, "err", err)
			}
			continue
		}
		last[p.kind] = slot
	}
}

// work runs one claimed job with its lease kept alive, and records the
// outcome.
func (r *Runner) work(base context.Context, c *claimed) {
	log := r.cfg.Logger.With("job_id", c.ID, "kind", c.Kind, "attempt", c.Attempt)
	jctx, cancel := context.WithCancelCause(base)
	defer cancel(nil)

	// Lease writes must go on while the handler winds down after shutdown
	// has cancelled its context, hence a context free of that cancellation.
	lctx := context.WithoutCancel(base)
	stopBeat := make(chan struct{})
	beatDone := make(chan struct{})
	go func() {
		defer close(beatDone)
		r.heartbeat(lctx, c, stopBeat, cancel, log)
	}()

	tctx, tcancel := context.WithTimeout(jctx, r.cfg.Timeout)
	err := r.call(tctx, c.Job, log)
	tcancel()
	close(stopBeat)
	<-beatDone
	cause := context.Cause(jctx)

	wctx, wcancel := context.WithTimeout(lctx, 10*time.Second)
	defer wcancel()
	var held bool
	var werr error
	switch {
	case err == nil:
		held, werr = r.q.complete(wctx, c)
	case errors.Is(cause, errLeaseLost):
		log.Warn("jobs: lease lost; another worker will run the job", "err", err)
		return
	case errors.Is(cause, ErrShutdown):
		log.Info("jobs: interrupted by shutdown; back in the queue", "err", err)
		held, werr = r.q.release(wctx, c)
	default:
		var re *retryError
		permanent := errors.As(err, &re) && re.permanent
		if permanent || c.Attempt >= c.MaxAttempts {
			log.Error("jobs: job dead", "err", err, "permanent", permanent)
			held, werr = r.q.bury(wctx, c, errorText(err))
			break
		}
		delay := r.cfg.Backoff(c.Attempt)
		if re != nil && re.after > 0 {
			delay = re.after
		}
		log.Warn("jobs: attempt failed; will retry", "err", err, "retry_in", delay)
		held, werr = r.q.reschedule(wctx, c, r.q.now().Add(delay), errorText(err))
	}
	switch {
	case werr != nil:
		// The lease will expire and another attempt will run: at least once.
		log.Error("jobs: recording outcome failed", "err", werr)
	case !held:
		log.Warn("jobs: lease lost before the outcome was recorded; outcome void")
	}
}

// call runs the handler, turning a panic into an error.
func (r *Runner) call(ctx context.Context, j Job, log *slog.Logger) (err error) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("jobs: handler panicked", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return r.handlers[j.Kind](ctx, j)
}

// heartbeat renews c's lease every Lease/3 until stop closes. When the
// lease turns out to belong to another worker, or cannot be renewed before
// it runs out, it cancels the handler: someone else may be running the job.
func (r *Runner) heartbeat(ctx context.Context, c *claimed, stop <-chan struct{}, cancel context.CancelCauseFunc, log *slog.Logger) {
	every := r.cfg.Lease / 3
	t := time.NewTicker(every)
	defer t.Stop()
	until := c.leaseUntil
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := r.q.now()
		next := now.Add(r.cfg.Lease)
		wctx, wcancel := context.WithTimeout(ctx, every)
		held, err := r.q.extend(wctx, c, next)
		wcancel()
		switch {
		case err == nil && held:
			until = next
		case err == nil:
			cancel(errLeaseLost)
			return
		case !now.Before(until):
			log.Error("jobs: cannot renew lease; stopping the handler", "err", err)
			cancel(errLeaseLost)
			return
		default:
			log.Warn("jobs: renewing lease failed; will retry", "err", err)
		}
	}
}

// retryError carries a handler's instruction about the next attempt.
type retryError struct {
	err       error
	after     time.Duration
	permanent bool
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: the job becomes dead at once
// (a payload naming something that no longer exists, a malformed payload).
// Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &retryError{err: err, permanent: true}
}

// RetryAfter asks for the next attempt after d instead of the backoff (a
// gateway that said "retry in a minute"). The attempt still counts toward
// MaxAttempts. RetryAfter(nil, d) is nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryError{err: err, after: d}
}

// newToken returns 128 random bits in hex, naming one claim.
func newToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
