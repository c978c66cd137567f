package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"kabinet/internal/config"
	"kabinet/internal/documents"
	"kabinet/internal/i18n"
	"kabinet/internal/register"
	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
)

// publishedDocuments publishes cfg's documents into a fresh SQLite
// database and returns the store.
func publishedDocuments(t *testing.T, cfg *config.Config, b *i18n.Bundle) *documents.Store {
	t.Helper()
	return publishInto(t, sqldbtest.SQLite(t), cfg, b, time.Date(2025, 9, 1, 9, 0, 0, 0, time.UTC))
}

func publishInto(t *testing.T, db *sqldb.DB, cfg *config.Config, b *i18n.Bundle, at time.Time) *documents.Store {
	t.Helper()
	s := documents.NewStore(db, cfg, b, nil, func() time.Time { return at })
	if _, err := s.Publish(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPolicyAndAgreementPages(t *testing.T) {
	_, ts := newTestServer(t, nil, nil)
	for _, c := range []struct {
		path, lang string
		want       []string
	}{
		{"/policy", "ru", []string{"<h1>Политика в отношении обработки персональных данных</h1>", "8. Права субъекта персональных данных",
			"Редакция 2025-09-01, опубликована 01.09.2025 09:00 UTC", `href="/documents/policy"`, "Контрольная сумма текста (SHA-256): "}},
		{"/policy", "en", []string{"<h1>Personal data processing policy</h1>", "Purposes of processing and legal bases", "published 1 September 2025, 09:00 UTC"}},
		{"/agreement", "ru", []string{"<h1>Соглашение об использовании портала</h1>", "Изменение соглашения"}},
		{"/agreement", "en", []string{"<h1>Portal user agreement</h1>", "Changes to the agreement"}},
	} {
		t.Run(c.path+"/"+c.lang, func(t *testing.T) {
			r := do(t, newReq(t, "GET", ts.URL+c.path, nil, "Accept-Language", c.lang))
			if r.code != 200 || r.header.Get("Content-Language") != c.lang {
				t.Fatalf("status %d, language %q", r.code, r.header.Get("Content-Language"))
			}
			for _, w := range c.want {
				if !strings.Contains(r.body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			if strings.Contains(r.body, "documents.old.notice") || strings.Contains(r.body, `class="notice`) {
				t.Error("the current version carries a notice")
			}
			if strings.Count(r.body, "<h1") != 1 {
				t.Error("page does not have exactly one h1")
			}
			checkPage(t, r.body)
		})
	}
	// The footer links both documents.
	r := do(t, newReq(t, "GET", ts.URL+"/", nil))
	for _, w := range []string{`<a href="/policy">Политика обработки персональных данных</a>`, `<a href="/agreement">Пользовательское соглашение</a>`} {
		if !strings.Contains(r.body, w) {
			t.Errorf("footer lacks %s", w)
		}
	}
}

// checkPage asserts what every page must hold: no untranslated key, no
// inline script or style.
func checkPage(t *testing.T, body string) {
	t.Helper()
	if m := missingKey.FindString(body); m != "" {
		t.Errorf("page shows an untranslated key %s", m)
	}
	if strings.Contains(body, "<script") || strings.Contains(body, " style=") || strings.Contains(body, "<style") {
		t.Error("inline script or style present")
	}
}

// TestPastVersionsStayViewable publishes a changed policy and reads the
// old one at its address, the new one at /policy, and both in the history.
func TestPastVersionsStayViewable(t *testing.T) {
	cfg, err := config.Load("", func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := i18n.Load()
	db := sqldbtest.SQLite(t)
	store := publishInto(t, db, cfg, b, time.Date(2025, 9, 1, 9, 0, 0, 0, time.UTC))
	ctx := context.Background()
	old, err := store.Current(ctx, "policy", "ru")
	if err != nil {
		t.Fatal(err)
	}
	changed, _ := config.Load("", func(string) string { return "" }, nil)
	pol := changed.Register.DocumentOfKind(register.DocPolicy)
	pol.Version = "2025-10-01"
	pol.Sections = append(pol.Sections, register.Section{Title: i18n.Text{"ru": "Новый раздел"}, Text: i18n.Text{"ru": "Новый текст."}})
	publishInto(t, db, changed, b, time.Date(2025, 10, 1, 12, 30, 0, 0, time.UTC))

	// The server reads both versions from the database.
	_, ts := newTestServerDocs(t, nil, nil, store)

	r := do(t, newReq(t, "GET", ts.URL+"/policy", nil))
	if !strings.Contains(r.body, "Новый раздел") || !strings.Contains(r.body, "Редакция 2025-10-01, опубликована 01.10.2025 12:30 UTC") {
		t.Error("/policy does not show the new version")
	}

	r = do(t, newReq(t, "GET", ts.URL+old.Path(), nil))
	if r.code != 200 {
		t.Fatalf("old version %s: status %d", old.Path(), r.code)
	}
	for _, w := range []string{"Это не действующая редакция документа.", "Эта редакция опубликована 01.09.2025 09:00 UTC", old.Hash,
		`<a href="/policy">Перейти к действующей редакции</a>`, "Редакция: 2025-09-01"} {
		if !strings.Contains(r.body, w) {
			t.Errorf("old version page lacks %q", w)
		}
	}
	if strings.Contains(r.body, "Новый раздел") {
		t.Error("old version shows the new text")
	}
	checkPage(t, r.body)

	r = do(t, newReq(t, "GET", ts.URL+"/documents/policy/"+old.Hash, nil, "Accept-Language", "en"))
	if r.code != 200 || !strings.Contains(r.body, "This is not the current version of the document.") || !strings.Contains(r.body, "It is shown in: Русский") {
		t.Errorf("old Russian version for an English reader by full hash: %d", r.code)
	}

	for _, path := range []string{"/documents/policy/000000000000", "/documents/policy/" + old.Hash[:8], "/documents/policy/" + old.Hash[:12] + "zz",
		"/documents/nosuch/" + old.Hash[:12], "/documents/Policy/" + old.Hash[:12], "/documents/nosuch"} {
		if r := do(t, newReq(t, "GET", ts.URL+path, nil)); r.code != 404 || !strings.Contains(r.body, "Страница не найдена") {
			t.Errorf("%s: status %d, want the 404 page", path, r.code)
		}
	}

	r = do(t, newReq(t, "GET", ts.URL+"/documents/policy", nil))
	if r.code != 200 {
		t.Fatalf("history: status %d", r.code)
	}
	for _, w := range []string{"<h1>Политика в отношении обработки персональных данных: история редакций</h1>",
		`<a href="` + old.Path() + `" lang="ru"><code>` + old.ShortHash() + `</code></a>`,
		"<th scope=\"row\">01.10.2025 12:30 UTC</th>", "<th scope=\"row\">01.09.2025 09:00 UTC</th>",
		"2025-10-01", "2025-09-01", "<strong>действующая</strong>", "прежняя", "English"} {
		if !strings.Contains(r.body, w) {
			t.Errorf("history lacks %q", w)
		}
	}
	if strings.Index(r.body, "01.10.2025") > strings.Index(r.body, "01.09.2025") {
		t.Error("history is not newest first")
	}
	checkPage(t, r.body)

	// A consent text has a history page and versions too.
	r = do(t, newReq(t, "GET", ts.URL+"/documents/consent-informing", nil))
	if r.code != 200 || !strings.Contains(r.body, "Согласие на получение информационных сообщений") {
		t.Errorf("consent history: %d", r.code)
	}
}
