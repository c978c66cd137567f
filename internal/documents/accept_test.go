package documents

import (
	"context"
	"testing"

	"kabinet/internal/audit"
	"kabinet/internal/config"
	"kabinet/internal/fault"
	"kabinet/internal/register"
	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
)

var account = audit.Actor{Kind: audit.ActorAccount, ID: "acc-1"}

// explicitPolicy is the demo register with a policy that needs explicit
// re-acceptance (seed 001 §1.8) and an agreement that binds on continued
// use (seed 000 §1.3.4–1.3.5).
func explicitPolicy(t *testing.T) *config.Config {
	cfg := demo(t)
	cfg.Register.DocumentOfKind(register.DocPolicy).Acceptance = "explicit"
	cfg.Register.DocumentOfKind(register.DocAgreement).Acceptance = "continued_use"
	return cfg
}

func docIDs(vs []Version) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.DocID+"/"+v.Lang)
	}
	return out
}

func TestExplicitAcceptance(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db, explicitPolicy(t))
		publish(t, s)

		pending, err := s.Pending(ctx, "subj-1", "en")
		if err != nil {
			t.Fatal(err)
		}
		if len(pending) != 1 || pending[0].DocID != "policy" || pending[0].Lang != "en" || pending[0].HTML == "" {
			t.Fatalf("Pending = %v, want the English policy", docIDs(pending))
		}
		// The subject read the English text; the acceptance binds the
		// Russian one, so a Russian reader is not asked again.
		if err := s.Accept(ctx, "subj-1", pending[0].ID, MethodExplicit, account, "req-1"); err != nil {
			t.Fatal(err)
		}
		if p, _ := s.Pending(ctx, "subj-1", "ru"); len(p) != 0 {
			t.Errorf("after Accept, Pending = %v", docIDs(p))
		}
		var bound, shown int64
		var method string
		if err := db.Reader().QueryRow(`SELECT version_id, shown_id, method FROM document_acceptances WHERE subject_id = 'subj-1'`).Scan(&bound, &shown, &method); err != nil {
			t.Fatal(err)
		}
		ru, _ := s.Current(ctx, "policy", "ru")
		if bound != ru.ID || shown != pending[0].ID || method != MethodExplicit {
			t.Errorf("acceptance binds %d shown %d %s; want %d, %d, explicit", bound, shown, method, ru.ID, pending[0].ID)
		}
		// Accepting twice records and audits once.
		if err := s.Accept(ctx, "subj-1", ru.ID, MethodExplicit, account, "req-2"); err != nil {
			t.Fatal(err)
		}
		if n := auditCount(t, db, "document.accepted"); n != 1 {
			t.Errorf("%d document.accepted entries, want 1", n)
		}
		// Another subject is still asked.
		if p, _ := s.Pending(ctx, "subj-2", "ru"); len(p) != 1 {
			t.Errorf("subj-2 Pending = %v", docIDs(p))
		}

		// A new policy text: asked again; the old one can no longer be
		// accepted.
		changed := explicitPolicy(t)
		editPolicy(changed)
		s2 := newStore(t, db, changed)
		publish(t, s2)
		p, _ := s2.Pending(ctx, "subj-1", "ru")
		if len(p) != 1 || p[0].ID == ru.ID {
			t.Fatalf("after a new version, Pending = %v", docIDs(p))
		}
		if err := s2.Accept(ctx, "subj-1", ru.ID, MethodExplicit, account, "req-3"); fault.KindOf(err) != fault.Conflict {
			t.Errorf("accepting a superseded version: %v, want Conflict", err)
		} else if key, _ := fault.Message(err); key != "documents.not_current" {
			t.Errorf("message key %q", key)
		}
		if err := s2.Accept(ctx, "subj-1", p[0].ID, MethodExplicit, account, "req-4"); err != nil {
			t.Fatal(err)
		}
		if p, _ := s2.Pending(ctx, "subj-1", "ru"); len(p) != 0 {
			t.Errorf("Pending after accepting the new version = %v", docIDs(p))
		}
	})
}

func TestContinuedUse(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db, explicitPolicy(t))
		publish(t, s)
		// The agreement binds on use; the explicit policy is not accepted
		// by use.
		n, err := s.RecordContinuedUse(ctx, "subj-1", account, "req-1")
		if err != nil || n != 1 {
			t.Fatalf("RecordContinuedUse = %d, %v; want 1 (the agreement)", n, err)
		}
		if n, err := s.RecordContinuedUse(ctx, "subj-1", account, "req-2"); err != nil || n != 0 {
			t.Errorf("second RecordContinuedUse = %d, %v; want 0", n, err)
		}
		var doc, method string
		if err := db.Reader().QueryRow(`SELECT doc_id, method FROM document_acceptances WHERE subject_id = 'subj-1'`).Scan(&doc, &method); err != nil {
			t.Fatal(err)
		}
		if doc != "agreement" || method != MethodContinuedUse {
			t.Errorf("recorded %s by %s", doc, method)
		}
		if p, _ := s.Pending(ctx, "subj-1", "ru"); len(p) != 1 || p[0].DocID != "policy" {
			t.Errorf("Pending = %v, want the explicit policy only", docIDs(p))
		}
		if n := auditCount(t, db, "document.accepted"); n != 1 {
			t.Errorf("%d document.accepted entries, want 1", n)
		}

		// With the demo register both documents bind on use: nothing is
		// ever pending, and a new version is recorded at the next use.
		s2 := newStore(t, db, demo(t))
		publish(t, s2)
		if p, _ := s2.Pending(ctx, "subj-1", "ru"); len(p) != 0 {
			t.Errorf("continued_use documents pending: %v", docIDs(p))
		}
		if n, err := s2.RecordContinuedUse(ctx, "subj-1", account, "req-3"); err != nil || n != 1 {
			t.Errorf("RecordContinuedUse after the policy became continued_use = %d, %v; want 1", n, err)
		}
	})
}

func TestAcceptRejectsMisuse(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db, explicitPolicy(t))
		publish(t, s)
		pol, _ := s.Current(ctx, "policy", "ru")
		consent, err := s.Current(ctx, "consent-informing", "ru")
		if err != nil {
			t.Fatal(err)
		}
		for name, c := range map[string]struct {
			subject string
			id      int64
			method  string
			want    fault.Kind
		}{
			"unknown version": {"subj-1", 999999, MethodExplicit, fault.NotFound},
			"consent text":    {"subj-1", consent.ID, MethodExplicit, fault.Invalid},
			"bad method":      {"subj-1", pol.ID, "nodded", fault.Invalid},
			"empty subject":   {"", pol.ID, MethodExplicit, fault.Invalid},
			"subject with pd": {"Иванов Иван", pol.ID, MethodExplicit, fault.Invalid},
		} {
			if err := s.Accept(ctx, c.subject, c.id, c.method, account, ""); fault.KindOf(err) != c.want {
				t.Errorf("%s: %v, want %v", name, err, c.want)
			}
		}
		if n := auditCount(t, db, "document.accepted"); n != 0 {
			t.Errorf("refused acceptances were audited: %d", n)
		}
	})
}
