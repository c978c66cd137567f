package consent

import (
	"bytes"
	"context"
	"errors"
	"kabinet/internal/i18n/i18ntest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/fault"
	"kabinet/internal/jobs"
	"kabinet/internal/register"
	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
	"kabinet/internal/vault"
)

// threeYears after t on the calendar, as the register counts terms.
func threeYears(t time.Time) time.Time { return register.Duration{N: 3, Unit: 'y'}.AddTo(t) }

// mustWrite(t, what)(f.l.Give(…)) fails the test if the write failed.
func mustWrite(t *testing.T, what string) func(Record, error) Record {
	return func(rec Record, err error) Record {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return rec
	}
}

// wantDecision checks a decision's verdict, status and reason.
func wantDecision(t *testing.T, d Decision, allowed bool, status Status, reason string) {
	t.Helper()
	if d.Allowed != allowed || d.Status != status || d.Reason != reason {
		t.Errorf("decision = %+v, want allowed=%v status=%q reason=%q", d, allowed, status, reason)
	}
}

// wantFault checks err's kind and message key.
func wantFault(t *testing.T, err error, kind fault.Kind, key string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s %s", kind, key)
	}
	if got, _ := fault.Message(err); fault.KindOf(err) != kind || got != key {
		t.Errorf("error %v: kind %s key %q, want %s %q", err, fault.KindOf(err), got, kind, key)
	}
}

// auditRows returns the actions of the audit log in order, with each
// entry's attrs text.
func auditRows(t *testing.T, db *sqldb.DB) (actions []string, attrs []string) {
	t.Helper()
	rows, err := db.Reader().Query(`SELECT action, attrs FROM audit_log ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var a, b string
		if err := rows.Scan(&a, &b); err != nil {
			t.Fatal(err)
		}
		actions = append(actions, a)
		attrs = append(attrs, b)
	}
	return actions, attrs
}

func countEvents(t *testing.T, db *sqldb.DB) int {
	t.Helper()
	var n int
	if err := db.Reader().QueryRow(`SELECT COUNT(*) FROM consent_events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestGiveAndWithdraw(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db, Options{})
		s := f.subject(t, "subj-1")
		t0 := f.clock.Now()

		wantDecision(t, f.l.Allowed(s, informing, t0), false, None, ReasonNoConsent)

		rec := mustWrite(t, "give")(f.l.Give(ctx, give(s, informing)))
		if rec.ID == 0 || !rec.At.Equal(t0) || !rec.ExpiresAt.Equal(threeYears(t0)) || !rec.HasEvidence || rec.ExpressedBy != BySubject {
			t.Errorf("given record = %+v", rec)
		}
		d := f.l.Allowed(s, informing, t0)
		wantDecision(t, d, true, Given, "")
		if !d.ExpiresAt.Equal(threeYears(t0)) {
			t.Errorf("ExpiresAt = %v, want %v", d.ExpiresAt, threeYears(t0))
		}
		// A consent without a term runs until withdrawn.
		mustWrite(t, "give marketing")(f.l.Give(ctx, give(s, marketing)))
		d = f.l.Allowed(s, marketing, t0.AddDate(50, 0, 0))
		wantDecision(t, d, true, Given, "")
		if !d.ExpiresAt.IsZero() {
			t.Errorf("marketing ExpiresAt = %v, want none", d.ExpiresAt)
		}
		// Other subjects and purposes are unaffected.
		wantDecision(t, f.l.Allowed("subj-other", informing, t0), false, None, ReasonNoConsent)

		f.clock.Set(t0.Add(time.Hour))
		w := mustWrite(t, "withdraw")(f.l.Withdraw(ctx, end(s, informing)))
		if w.Doc != rec.Doc {
			t.Errorf("withdrawal refers to %+v, want the given text %+v", w.Doc, rec.Doc)
		}
		wantDecision(t, f.l.Allowed(s, informing, f.clock.Now()), false, Withdrawn, ReasonWithdrawn)
		wantDecision(t, f.l.Allowed(s, marketing, f.clock.Now()), true, Given, "")

		_, err := f.l.Withdraw(ctx, end(s, informing))
		wantFault(t, err, fault.Conflict, "consent.not_active")
		_, err = f.l.Withdraw(ctx, end("subj-never", informing))
		wantFault(t, err, fault.Conflict, "consent.not_active")

		hist, err := f.l.History(ctx, s, informing)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 2 || hist[0].Event != Given || hist[1].Event != Withdrawn || hist[0].ID != rec.ID {
			t.Fatalf("history = %+v", hist)
		}
		if h := hist[0]; h.Doc != rec.Doc || h.Method != "checkbox" || h.Actor != rec.Actor || h.RequestID != "req-1" ||
			!h.ExpiresAt.Equal(rec.ExpiresAt) || !h.HasEvidence {
			t.Errorf("stored given event = %+v, want %+v", h, rec)
		}
		all, _ := f.l.History(ctx, s, "")
		if len(all) != 3 {
			t.Errorf("history of all purposes has %d events, want 3", len(all))
		}
		states, err := f.l.States(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if len(states) != 2 || states[0].Purpose != informing || states[0].Status != Withdrawn || !states[0].Since.Equal(t0.Add(time.Hour)) ||
			states[1].Purpose != marketing || states[1].Status != Given {
			t.Errorf("states = %+v", states)
		}
	})
}

func TestRefuse(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db, Options{})
		a, b := f.subject(t, "subj-a"), f.subject(t, "subj-b")
		now := f.clock.Now()

		mustWrite(t, "refuse")(f.l.Refuse(ctx, give(a, informing)))
		wantDecision(t, f.l.Allowed(a, informing, now), false, Refused, ReasonRefused)

		// A refusal is the latest word: it ends a consent given before.
		mustWrite(t, "give")(f.l.Give(ctx, give(b, informing)))
		rec := mustWrite(t, "refuse")(f.l.Refuse(ctx, give(b, informing)))
		if !rec.ExpiresAt.IsZero() {
			t.Errorf("a refusal has a term: %v", rec.ExpiresAt)
		}
		wantDecision(t, f.l.Allowed(b, informing, now), false, Refused, ReasonRefused)
		// And a later consent replaces the refusal.
		mustWrite(t, "give again")(f.l.Give(ctx, give(a, informing)))
		wantDecision(t, f.l.Allowed(a, informing, now), true, Given, "")
	})
}

func TestRenewExtendsTheTerm(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db, Options{})
		s := f.subject(t, "subj-1")
		t0 := f.clock.Now()

		_, err := f.l.Renew(ctx, give(s, informing))
		wantFault(t, err, fault.Conflict, "consent.not_active")

		mustWrite(t, "give")(f.l.Give(ctx, give(s, informing)))
		t1 := t0.AddDate(2, 6, 0)
		f.clock.Set(t1)
		e := give(s, informing)
		e.Doc.Version, e.Doc.Hash = "2026-06-01", "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c"
		rec := mustWrite(t, "renew")(f.l.Renew(ctx, e))
		if !rec.ExpiresAt.Equal(threeYears(t1)) {
			t.Errorf("renewed until %v, want %v", rec.ExpiresAt, threeYears(t1))
		}
		// Allowed past the first term, until the new one ends.
		wantDecision(t, f.l.Allowed(s, informing, threeYears(t0).Add(time.Hour)), true, Renewed, "")
		wantDecision(t, f.l.Allowed(s, informing, threeYears(t1)), false, Expired, ReasonExpired)
		states, _ := f.l.States(ctx, s)
		if len(states) != 1 || states[0].Doc.Version != "2026-06-01" || !states[0].ExpiresAt.Equal(threeYears(t1)) {
			t.Errorf("states = %+v", states)
		}

		// A consent past its term cannot be renewed, only given anew.
		f.clock.Set(threeYears(t1))
		_, err = f.l.Renew(ctx, give(s, informing))
		wantFault(t, err, fault.Conflict, "consent.not_active")
	})
}

func TestInvalidate(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db, Options{})
		s := f.subject(t, "subj-child")
		now := f.clock.Now()

		g := give(s, informing)
		g.Method, g.ExpressedBy, g.RepresentativeID = "representative", ByRepresentative, "subj-parent"
		g.Actor.ID = "acc-parent"
		given := mustWrite(t, "give by representative")(f.l.Give(ctx, g))
		wantDecision(t, f.l.Allowed(s, informing, now), true, Given, "")

		inv := Event{Subject: s, Purpose: informing, RepresentativeID: "subj-parent",
			Actor: audit.Actor{Kind: audit.ActorStaff, ID: "staff-7"}}
		_, err := f.l.Invalidate(ctx, inv)
		wantFault(t, err, fault.Invalid, "consent.reason_required")
		inv.Reason = InvalidAuthorityEnd
		rec := mustWrite(t, "invalidate")(f.l.Invalidate(ctx, inv))
		if rec.Doc != given.Doc || rec.Method != "" || rec.ExpressedBy != "" {
			t.Errorf("invalidation = %+v", rec)
		}
		wantDecision(t, f.l.Allowed(s, informing, now), false, Invalidated, ReasonInvalidated)
		_, err = f.l.Invalidate(ctx, inv)
		wantFault(t, err, fault.Conflict, "consent.not_active")

		hist, _ := f.l.History(ctx, s, informing)
		if len(hist) != 2 || hist[0].RepresentativeID != "subj-parent" || hist[0].ExpressedBy != ByRepresentative ||
			hist[1].Reason != InvalidAuthorityEnd || hist[1].HasEvidence {
			t.Errorf("history = %+v", hist)
		}
	})
}

func TestWritesAreValidatedAgainstTheRegister(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db, Options{})
		s := f.subject(t, "subj-1")
		tests := []struct {
			name   string
			change func(e *Event)
			write  func(context.Context, Event) (Record, error)
			key    string
		}{
			{"unknown purpose", func(e *Event) { e.Purpose = "no-such" }, f.l.Give, "consent.purpose_unknown"},
			{"purpose not consent-based", func(e *Event) { e.Purpose, e.Doc.ID = contract, "consent-contract" }, f.l.Give, "consent.purpose_not_consent"},
			{"method not allowed for the purpose", func(e *Event) { e.Method = "submit_button" }, f.l.Give, "consent.method_not_allowed"},
			{"continued use is not consent here", func(e *Event) { e.Method = "continued_use" }, f.l.Renew, "consent.method_not_allowed"},
			{"unknown method of refusal", func(e *Event) { e.Method = "telepathy" }, f.l.Refuse, "consent.method_not_allowed"},
			{"no method", func(e *Event) { e.Method = "" }, f.l.Give, "consent.method_not_allowed"},
			{"representative method without representative", func(e *Event) { e.Method = "representative" }, f.l.Give, "consent.representative_required"},
			{"representative without id", func(e *Event) { e.ExpressedBy = ByRepresentative }, f.l.Give, "consent.representative_required"},
			{"representative id with the subject", func(e *Event) { e.RepresentativeID = "subj-2" }, f.l.Give, "consent.representative_unexpected"},
			{"representative id is a name", func(e *Event) {
				e.Method, e.ExpressedBy, e.RepresentativeID = "representative", ByRepresentative, "Мария Иванова"
			}, f.l.Give, "consent.representative_invalid"},
			{"expressed by someone else", func(e *Event) { e.ExpressedBy = "neighbour" }, f.l.Give, "consent.expressed_by_invalid"},
			{"another purpose's document", func(e *Event) { e.Doc.ID = "consent-marketing" }, f.l.Give, "consent.document_mismatch"},
			{"no document", func(e *Event) { e.Doc = Doc{} }, f.l.Refuse, "consent.document_mismatch"},
			{"no hash", func(e *Event) { e.Doc.Hash = "" }, f.l.Give, "consent.document_incomplete"},
			{"no version", func(e *Event) { e.Doc.Version = "" }, f.l.Give, "consent.document_incomplete"},
			{"subject is a name", func(e *Event) { e.Subject = "Иван Иванов" }, f.l.Give, "consent.subject_invalid"},
			{"no subject", func(e *Event) { e.Subject = "" }, f.l.Give, "consent.subject_invalid"},
			{"IP is not an address", func(e *Event) { e.Evidence.IP = "ivan's laptop" }, f.l.Give, "consent.evidence_invalid"},
			{"reason is free text", func(e *Event) { e.Reason = "he said so" }, f.l.Give, "consent.reason_invalid"},
			{"invalidation with a method", func(e *Event) { e.Reason = InvalidTextChanged }, f.l.Invalidate, "consent.method_not_allowed"},
		}
		for _, tt := range tests {
			e := give(s, informing)
			tt.change(&e)
			_, err := tt.write(ctx, e)
			if err == nil {
				t.Errorf("%s: no error", tt.name)
				continue
			}
			if key, _ := fault.Message(err); fault.KindOf(err) != fault.Invalid || key != tt.key {
				t.Errorf("%s: %v (kind %s, key %q), want invalid %q", tt.name, err, fault.KindOf(err), key, tt.key)
			}
		}
		// A missing actor is the audit log's rule, and rolls back the event.
		e := give(s, informing)
		e.Actor = audit.Actor{}
		if _, err := f.l.Give(ctx, e); fault.KindOf(err) != fault.Invalid {
			t.Errorf("give without actor: %v, want invalid", err)
		}
		if n := countEvents(t, db); n != 0 {
			t.Errorf("%d events stored by invalid writes", n)
		}
		if actions, _ := auditRows(t, db); len(actions) != 0 {
			t.Errorf("audit entries written by invalid writes: %v", actions)
		}
		wantDecision(t, f.l.Allowed(s, informing, f.clock.Now()), false, None, ReasonNoConsent)
		wantDecision(t, f.l.Allowed(s, contract, f.clock.Now()), false, None, ReasonNotConsentBased)
		wantDecision(t, f.l.Allowed(s, "no-such", f.clock.Now()), false, None, ReasonUnknownPurpose)
	})
}

func TestExpiry(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db, Options{ExpireBatch: 2})
		t0 := f.clock.Now()

		// Five consents given at t0 (due in three years, expired in three
		// batches), one given a day later (not due), one without a term,
		// one withdrawn.
		var due []string
		for _, id := range []string{"s1", "s2", "s3", "s4", "s5"} {
			due = append(due, f.subject(t, id))
			mustWrite(t, "give")(f.l.Give(ctx, give(id, informing)))
		}
		mustWrite(t, "give marketing")(f.l.Give(ctx, give("s1", marketing)))
		f.subject(t, "s6")
		mustWrite(t, "give s6")(f.l.Give(ctx, give("s6", informing)))
		mustWrite(t, "withdraw s6")(f.l.Withdraw(ctx, end("s6", informing)))
		f.clock.Set(t0.AddDate(0, 0, 1))
		f.subject(t, "late")
		mustWrite(t, "give late")(f.l.Give(ctx, give("late", informing)))
		writes := 9

		expiresAt := threeYears(t0)
		wantDecision(t, f.l.Allowed("s1", informing, expiresAt.Add(-time.Microsecond)), true, Given, "")
		// Refused from the instant the term ends, before the job has run.
		wantDecision(t, f.l.Allowed("s1", informing, expiresAt), false, Expired, ReasonExpired)
		f.clock.Set(expiresAt.Add(time.Minute))
		states, _ := f.l.States(ctx, "s1")
		if states[0].Status != Expired || !states[0].Since.Equal(expiresAt) {
			t.Errorf("state before the job = %+v, want expired since %v", states[0], expiresAt)
		}
		if n, err := f.l.ExpireDue(ctx, expiresAt.Add(-time.Microsecond)); err != nil || n != 0 {
			t.Fatalf("ExpireDue before the end of the term = %d, %v", n, err)
		}

		n, err := f.l.ExpireDue(ctx, f.clock.Now())
		if err != nil || n != len(due) {
			t.Fatalf("ExpireDue = %d, %v; want %d", n, err, len(due))
		}
		for _, s := range due {
			hist, _ := f.l.History(ctx, s, informing)
			last := hist[len(hist)-1]
			if len(hist) != 2 || last.Event != Expired || !last.At.Equal(expiresAt) || last.Actor.Kind != audit.ActorSystem ||
				last.Doc != hist[0].Doc || last.HasEvidence {
				t.Errorf("%s history = %+v", s, hist)
			}
			wantDecision(t, f.l.Allowed(s, informing, f.clock.Now()), false, Expired, ReasonExpired)
		}
		wantDecision(t, f.l.Allowed("s1", marketing, f.clock.Now()), true, Given, "")
		wantDecision(t, f.l.Allowed("late", informing, f.clock.Now()), true, Given, "")
		wantDecision(t, f.l.Allowed("s6", informing, f.clock.Now()), false, Withdrawn, ReasonWithdrawn)

		// Idempotent: nothing more to do.
		if n, err := f.l.ExpireDue(ctx, f.clock.Now()); err != nil || n != 0 {
			t.Errorf("second ExpireDue = %d, %v", n, err)
		}
		if got := countEvents(t, db); got != writes+len(due) {
			t.Errorf("%d events, want %d", got, writes+len(due))
		}
		actions, _ := auditRows(t, db)
		expired := 0
		for _, a := range actions {
			if a == "consent.expired" {
				expired++
			}
		}
		if len(actions) != writes+len(due) || expired != len(due) {
			t.Errorf("audit actions = %v, want %d writes and %d expiries", actions, writes, len(due))
		}
		var buf bytes.Buffer
		if _, err := audit.Export(ctx, db, audit.Filter{Subject: "s3", Action: "consent.expired"}, &buf); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), `"actor":{"kind":"system","id":"consent.expire"}`) || strings.Count(buf.String(), "\n") != 1 {
			t.Errorf("export of s3's expiry = %s", buf.String())
		}

		// The late consent expires a day later; an expired consent can be
		// given anew.
		if n, _ := f.l.ExpireDue(ctx, threeYears(t0.AddDate(0, 0, 1))); n != 1 {
			t.Errorf("ExpireDue of the late consent = %d", n)
		}
		_, err = f.l.Withdraw(ctx, end("s1", informing))
		wantFault(t, err, fault.Conflict, "consent.not_active")
		mustWrite(t, "give after expiry")(f.l.Give(ctx, give("s1", informing)))
		wantDecision(t, f.l.Allowed("s1", informing, f.clock.Now()), true, Given, "")
	})
}

// TestExpiryJob runs the expiry through the jobs runner, as serve does.
func TestExpiryJob(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db, Options{})
		s := f.subject(t, "subj-1")
		mustWrite(t, "give")(f.l.Give(ctx, give(s, informing)))
		f.clock.Set(threeYears(f.clock.Now()).Add(time.Second))

		r := jobs.NewRunner(jobs.NewQueue(db, f.clock.Now), jobs.Config{PollInterval: 20 * time.Millisecond})
		f.l.Register(r, time.Hour)
		rctx, stop := context.WithCancel(ctx)
		done := make(chan error)
		go func() { done <- r.Run(rctx) }()
		defer func() { stop(); <-done }()
		waitFor(t, "the expiry job recorded the expiry", func() bool {
			st, err := f.l.States(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			hist, _ := f.l.History(ctx, s, informing)
			return len(st) == 1 && st[0].Status == Expired && len(hist) == 2
		})
	})
}

func TestAuditTrail(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db, Options{})
		s := f.subject(t, "subj-1")
		mustWrite(t, "give")(f.l.Give(ctx, give(s, informing)))
		mustWrite(t, "renew")(f.l.Renew(ctx, give(s, informing)))
		mustWrite(t, "withdraw")(f.l.Withdraw(ctx, end(s, informing)))
		mustWrite(t, "refuse")(f.l.Refuse(ctx, give(s, marketing)))
		g := give(s, marketing)
		g.Method = "submit_button"
		mustWrite(t, "give")(f.l.Give(ctx, g))
		mustWrite(t, "invalidate")(f.l.Invalidate(ctx, Event{Subject: s, Purpose: marketing, Reason: InvalidTextChanged,
			Actor: audit.Actor{Kind: audit.ActorStaff, ID: "staff-1"}}))
		// A failed write leaves no entry.
		if _, err := f.l.Withdraw(ctx, end(s, marketing)); err == nil {
			t.Error("withdrew an invalidated consent")
		}

		actions, attrs := auditRows(t, db)
		want := []string{"consent.given", "consent.renewed", "consent.withdrawn", "consent.refused", "consent.given", "consent.invalidated"}
		if strings.Join(actions, " ") != strings.Join(want, " ") {
			t.Fatalf("audit actions = %v, want %v", actions, want)
		}
		for i, a := range attrs {
			for _, k := range []string{`"doc_version":"2025-09-01"`, `"doc_hash":"9f86d08`, `"event_id":`} {
				if !strings.Contains(a, k) {
					t.Errorf("entry %d attrs %s lack %s", i, a, k)
				}
			}
			if i < 5 && (!strings.Contains(a, `"by":"subject"`) || !strings.Contains(a, `"method":"`)) {
				t.Errorf("entry %d attrs %s lack method and by", i, a)
			}
		}
		var buf bytes.Buffer
		if _, err := audit.Export(ctx, db, audit.Filter{}, &buf); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(buf.String(), testIP) || strings.Contains(buf.String(), "Mozilla") {
			t.Error("the audit log holds the evidence")
		}
		_, keys := testSigner()
		if err := f.audit.Close(); err != nil { // writes a checkpoint
			t.Fatal(err)
		}
		rep, err := audit.Verify(ctx, db, keys, nil)
		if err != nil || !rep.OK || rep.Entries != int64(len(want)) {
			t.Errorf("audit.Verify = %v, %v", rep, err)
		}
	})
}

// TestEvidenceIsSealed proves the evidence never reaches the database in
// plain text, and is readable through the Sealer only.
func TestEvidenceIsSealed(t *testing.T) {
	for _, eng := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", sqldbtest.SQLiteURL}, {"postgres", sqldbtest.PostgresURL}} {
		t.Run(eng.name, func(t *testing.T) {
			ctx := context.Background()
			url := eng.url(t)
			db := sqldbtest.Open(t, url)
			f := newFixture(t, db, Options{})
			s := f.subject(t, "subj-1")
			given := mustWrite(t, "give")(f.l.Give(ctx, give(s, informing)))
			paper := give(s, marketing)
			paper.Method, paper.Evidence = "checkbox", Evidence{}
			unsealed := mustWrite(t, "give without evidence")(f.l.Give(ctx, paper))

			var raw []byte
			if err := db.Reader().QueryRow(`SELECT evidence FROM consent_events WHERE id = $1`, given.ID).Scan(&raw); err != nil {
				t.Fatal(err)
			}
			if len(raw) == 0 || bytes.Contains(raw, []byte(testIP)) || bytes.Contains(raw, []byte("Mozilla")) {
				t.Errorf("evidence column holds %q", raw)
			}
			ev, err := f.l.Evidence(ctx, given.ID)
			if err != nil {
				t.Fatal(err)
			}
			if ev.IP != testIP || ev.UserAgent != testUA || !ev.Time.Equal(given.At) {
				t.Errorf("Evidence = %+v", ev)
			}
			_, err = f.l.Evidence(ctx, unsealed.ID)
			wantFault(t, err, fault.NotFound, "consent.no_evidence")
			_, err = f.l.Evidence(ctx, 999999)
			wantFault(t, err, fault.NotFound, "consent.event_not_found")

			if eng.name == "sqlite" {
				path := strings.TrimPrefix(url, "sqlite:")
				var all []byte
				for _, p := range []string{path, path + "-wal"} {
					b, err := os.ReadFile(p)
					if err != nil && !errors.Is(err, os.ErrNotExist) {
						t.Fatal(err)
					}
					all = append(all, b...)
				}
				if len(all) < 4096 || !bytes.Contains(all, []byte("consent-informing")) {
					t.Fatalf("read %d bytes of %s without the ledger's rows: wrong file?", len(all), filepath.Base(path))
				}
				if bytes.Contains(all, []byte(testIP)) || bytes.Contains(all, []byte("KabinetTestBrowser")) {
					t.Error("the database file holds the IP address or the user agent in plain text")
				}
			}

			// Destroying the subject's key destroys the evidence; the
			// decision and the state stay answerable.
			if err := f.vault.Destroy(ctx, s); err != nil {
				t.Fatal(err)
			}
			if _, err := f.l.Evidence(ctx, given.ID); !errors.Is(err, vault.ErrDestroyed) {
				t.Errorf("Evidence after destruction: %v, want vault.ErrDestroyed", err)
			}
			wantDecision(t, f.l.Allowed(s, informing, f.clock.Now()), true, Given, "")
			if st, err := f.l.States(ctx, s); err != nil || len(st) != 2 {
				t.Errorf("States after destruction = %v, %v", st, err)
			}
			// A withdrawal without evidence can still be recorded.
			w := end(s, informing)
			w.Evidence = Evidence{}
			mustWrite(t, "withdraw after destruction")(f.l.Withdraw(ctx, w))
			wantDecision(t, f.l.Allowed(s, informing, f.clock.Now()), false, Withdrawn, ReasonWithdrawn)
		})
	}
}

func TestRestartLoadsState(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db, Options{})
		for _, s := range []string{"a", "b", "c"} {
			f.subject(t, s)
			mustWrite(t, "give")(f.l.Give(ctx, give(s, informing)))
		}
		mustWrite(t, "withdraw")(f.l.Withdraw(ctx, end("b", informing)))
		mustWrite(t, "refuse")(f.l.Refuse(ctx, give("c", marketing)))
		f.l.Close()
		wantDecision(t, f.l.Allowed("a", informing, f.clock.Now()), false, None, ReasonStale)

		l2 := openLedger(t, f, Options{})
		now := f.clock.Now()
		wantDecision(t, l2.Allowed("a", informing, now), true, Given, "")
		wantDecision(t, l2.Allowed("b", informing, now), false, Withdrawn, ReasonWithdrawn)
		wantDecision(t, l2.Allowed("c", informing, now), true, Given, "")
		wantDecision(t, l2.Allowed("c", marketing, now), false, Refused, ReasonRefused)
		wantDecision(t, l2.Allowed("a", informing, threeYears(now)), false, Expired, ReasonExpired)
		if n := l2.index.len(); n != 4 {
			t.Errorf("index holds %d consents, want 4", n)
		}
	})
}

// TestConcurrentDecisionsAndWrites exercises the index under the race
// detector: decisions never block on, or see half of, a write.
func TestConcurrentDecisionsAndWrites(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixture(t, db, Options{})
		subjects := []string{"p", "q", "r", "s"}
		for _, s := range subjects {
			f.subject(t, s)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					for _, s := range subjects {
						d := f.l.Allowed(s, informing, f.clock.Now())
						if d.Allowed != (d.Status == Given) || !d.Allowed && d.Reason == "" {
							t.Errorf("inconsistent decision %+v", d)
						}
					}
				}
			})
		}
		for i := range 40 {
			s := subjects[i%len(subjects)]
			if d := f.l.Allowed(s, informing, f.clock.Now()); d.Allowed {
				mustWrite(t, "withdraw")(f.l.Withdraw(ctx, end(s, informing)))
			} else {
				mustWrite(t, "give")(f.l.Give(ctx, give(s, informing)))
			}
		}
		close(stop)
		wg.Wait()
	})
}

// TestEveryConsentKeyIsTranslated: every "consent.*" message key has a
// text in both catalogues (consent.expire is the job's kind, not a message).
func TestEveryConsentKeyIsTranslated(t *testing.T) {
	i18ntest.KeysTranslated(t, "consent", 10, JobExpire)
}
