package audit

import (
	"context"
	"testing"

	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
)

func TestTimelineFiltersAndPages(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		l := openLog(t, db, Options{})
		actor := Actor{Kind: ActorSubject, ID: "s1"}
		for _, a := range []string{"session.created", "pd.write", "consent.given", "pd_x.write", "pd.read", "session.created"} {
			if _, err := l.Append(ctx, Entry{Actor: actor, Subject: "s1", Action: a, Outcome: OutcomeOK}); err != nil {
				t.Fatal(err)
			}
		}
		l.Append(ctx, Entry{Actor: actor, Subject: "s2", Action: "pd.write", Outcome: OutcomeOK})
		all, err := Timeline(ctx, db, "s1", nil, 0, 100)
		if err != nil || len(all) != 6 || all[0].Action != "session.created" || all[0].Seq < all[1].Seq {
			t.Fatalf("all: %d %v", len(all), err)
		}
		pd, _ := Timeline(ctx, db, "s1", []string{"pd"}, 0, 100)
		if len(pd) != 2 {
			t.Errorf("pd entries %d, want 2 (pd_x.write must not match: '_' is not a wildcard)", len(pd))
		}
		page1, _ := Timeline(ctx, db, "s1", nil, 0, 4)
		page2, _ := Timeline(ctx, db, "s1", nil, page1[len(page1)-1].Seq, 4)
		if len(page1) != 4 || len(page2) != 2 || page2[0].Seq >= page1[3].Seq {
			t.Errorf("pages %d + %d", len(page1), len(page2))
		}
		if other, _ := Timeline(ctx, db, "s2", nil, 0, 10); len(other) != 1 {
			t.Errorf("another subject's timeline has %d entries", len(other))
		}
	})
}
