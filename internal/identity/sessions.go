package identity

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"kabinet/internal/audit"
	"kabinet/internal/fault"
	"kabinet/internal/sqldb"
)

// Sessions are opaque random tokens (32 bytes, base64url) held by the
// browser (a cookie) or the app (a bearer token); the table keeps only
// their SHA-256. A session ends after Sessions.Idle without use or
// Sessions.Absolute after sign-in, whichever comes first, or when signed
// out, revoked, or ended with every other session of the account.

// tokenBytes is the entropy of a session token.
const tokenBytes = 32

// newSession is a session about to be stored: its token and sealed client.
type newSession struct {
	id, token, account, subject string
	hash                        [32]byte
	client                      []byte // address and device, sealed through the gate
	now                         time.Time
	idle, absolute              time.Duration
}

func (n *newSession) session(level Level) Session {
	return Session{ID: n.id, AccountID: n.account, SubjectID: n.subject, Level: level, CreatedAt: n.now, LastSeen: n.now,
		ExpiresAt: expiry(n.now, n.now, n.idle, n.absolute)}
}

func expiry(created, lastSeen time.Time, idle, absolute time.Duration) time.Time {
	a, b := lastSeen.Add(idle), created.Add(absolute)
	if b.Before(a) {
		return b
	}
	return a
}

// clientRecord is what the session list shows of the device that signed
// in. It is personal data (an address), stored sealed.
type clientRecord struct {
	IP     string `json:"ip,omitempty"`
	Device string `json:"device,omitempty"`
}

// prepareSession makes a token and seals the client's address and device
// under the subject's key, before the transaction that stores the session
// (the gate writes its own audit entry, and SQLite has one writer).
func (s *Service) prepareSession(ctx context.Context, c Client, accountID, subject string) (*newSession, error) {
	token := randomToken(tokenBytes)
	raw, _ := base64.RawURLEncoding.DecodeString(token)
	n := &newSession{id: "s" + randomToken(12), token: token, account: accountID, subject: subject, hash: sha256.Sum256(raw),
		now: sqldb.FromMicros(sqldb.Micros(s.now())), idle: s.cfg.Sessions.Idle, absolute: s.cfg.Sessions.Absolute}
	plain, _ := json.Marshal(clientRecord{IP: ipString(c), Device: deviceOf(c.UserAgent)})
	sealed, err := s.gate.Seal(ctx, s.request(accountActor(accountID), subject, c.RequestID), s.cfg.Categories.Session, plain)
	if err != nil {
		return nil, fmt.Errorf("identity: seal session record: %w", err)
	}
	n.client = sealed
	return n, nil
}

// insertSession stores a prepared session and audits it, in tx.
func (s *Service) insertSession(ctx context.Context, tx *sql.Tx, n *newSession, level Level, now time.Time) error {
	n.now = sqldb.FromMicros(sqldb.Micros(now))
	_, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, token_hash, account_id, client, created_at, last_seen)
		VALUES ($1, $2, $3, $4, $5, $5)`, n.id, n.hash[:], n.account, n.client, sqldb.Micros(n.now))
	if err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO sign_ins (session_id, account_id, client, created_at) VALUES ($1, $2, $3, $4)",
		n.id, n.account, n.client, sqldb.Micros(n.now)); err != nil {
		return fmt.Errorf("record sign-in: %w", err)
	}
	_, err = s.audit.AppendTx(ctx, tx, audit.Entry{Actor: accountActor(n.account), Subject: n.subject, Action: "session.created",
		Outcome: audit.OutcomeOK, Attrs: map[string]string{"session": n.id, "level": level.String()}})
	return err
}

// signIn opens a session for an active account and records that its
// subject, by using the portal, accepts the agreement and policy versions
// that bind on publication (seed 000 §1.3.5).
func (s *Service) signIn(ctx context.Context, c Client, a *accountRef) (Session, string, error) {
	ns, err := s.prepareSession(ctx, c, a.id, a.subject)
	if err != nil {
		return Session{}, "", err
	}
	level := parseStoredLevel(a.level)
	err = s.db.InTx(ctx, func(tx *sql.Tx) error { return s.insertSession(ctx, tx, ns, level, s.now()) })
	if err != nil {
		return Session{}, "", fmt.Errorf("identity: sign in: %w", err)
	}
	if _, err := s.docs.RecordContinuedUse(ctx, a.subject, accountActor(a.id), c.RequestID); err != nil {
		// The session stands; the acceptance is recorded at the next use.
		s.log.Warn("identity: record continued use", "account", a.id, "err", err)
	}
	return ns.session(level), ns.token, nil
}

func tokenHash(token string) ([]byte, bool) {
	if len(token) != base64.RawURLEncoding.EncodedLen(tokenBytes) {
		return nil, false
	}
	// Strict: one token, one spelling.
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil {
		return nil, false
	}
	sum := sha256.Sum256(raw)
	return sum[:], true
}

// Authenticate returns the live session of token. It is the hottest path
// of the product: one indexed read, and a write of the last use at most
// once per Sessions.TouchEvery (so idle expiry is exact to that much).
// Errors: fault.Unauthorized "identity.session_invalid" for an unknown or
// malformed token, "identity.session_expired" for an expired one.
func (s *Service) Authenticate(ctx context.Context, token string) (Session, error) {
	h, ok := tokenHash(token)
	if !ok {
		return Session{}, fault.New(fault.Unauthorized, "identity.session_invalid")
	}
	var (
		ss              Session
		level           string
		created, seenUs int64
	)
	err := s.db.Reader().QueryRowContext(ctx, `SELECT s.id, s.account_id, a.subject_id, a.trust_level, s.created_at, s.last_seen
		FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = $1 AND a.state = 'active'`, h).
		Scan(&ss.ID, &ss.AccountID, &ss.SubjectID, &level, &created, &seenUs)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fault.New(fault.Unauthorized, "identity.session_invalid")
	}
	if err != nil {
		return Session{}, sqldb.Map(fmt.Errorf("identity: authenticate: %w", err))
	}
	now := s.now()
	ss.Level, ss.CreatedAt, ss.LastSeen = parseStoredLevel(level), sqldb.FromMicros(created), sqldb.FromMicros(seenUs)
	ss.ExpiresAt = expiry(ss.CreatedAt, ss.LastSeen, s.cfg.Sessions.Idle, s.cfg.Sessions.Absolute)
	if !now.Before(ss.ExpiresAt) {
		return Session{}, fault.New(fault.Unauthorized, "identity.session_expired")
	}
	if now.Sub(ss.LastSeen) >= s.cfg.Sessions.TouchEvery {
		// The guard on last_seen makes concurrent requests write once.
		err := s.db.InTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "UPDATE sessions SET last_seen = $1 WHERE id = $2 AND last_seen = $3", sqldb.Micros(now), ss.ID, seenUs)
			return err
		})
		if err != nil {
			return Session{}, fmt.Errorf("identity: touch session: %w", err)
		}
		ss.LastSeen = sqldb.FromMicros(sqldb.Micros(now))
		ss.ExpiresAt = expiry(ss.CreatedAt, ss.LastSeen, s.cfg.Sessions.Idle, s.cfg.Sessions.Absolute)
	}
	return ss, nil
}

// SessionInfo describes a session in the cabinet's list.
type SessionInfo struct {
	ID        string
	Device    string // coarse: browser and operating system, e.g. "Firefox, Linux"
	IP        string
	CreatedAt time.Time
	LastSeen  time.Time
	Current   bool // the session asking
}

// maxListed bounds the sessions listed (each is opened through the gate).
const maxListed = 50

// Sessions lists the live sessions of accountID, most recently used first,
// marking currentID. Each session's address and device are opened through
// the gate (audited as the account's own read).
func (s *Service) Sessions(ctx context.Context, accountID, currentID string) ([]SessionInfo, error) {
	a, err := s.accountByID(ctx, accountID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	rows, err := s.db.Reader().QueryContext(ctx, `SELECT id, client, created_at, last_seen FROM sessions
		WHERE account_id = $1 AND last_seen > $2 AND created_at > $3 ORDER BY last_seen DESC, id LIMIT $4`,
		accountID, sqldb.Micros(now.Add(-s.cfg.Sessions.Idle)), sqldb.Micros(now.Add(-s.cfg.Sessions.Absolute)), maxListed)
	if err != nil {
		return nil, sqldb.Map(fmt.Errorf("identity: list sessions: %w", err))
	}
	type row struct {
		info   SessionInfo
		sealed []byte
	}
	var list []row
	for rows.Next() {
		var r row
		var created, seen int64
		if err := rows.Scan(&r.info.ID, &r.sealed, &created, &seen); err != nil {
			rows.Close()
			return nil, sqldb.Map(fmt.Errorf("identity: list sessions: %w", err))
		}
		r.info.CreatedAt, r.info.LastSeen, r.info.Current = sqldb.FromMicros(created), sqldb.FromMicros(seen), r.info.ID == currentID
		list = append(list, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, sqldb.Map(fmt.Errorf("identity: list sessions: %w", err))
	}
	out := make([]SessionInfo, 0, len(list))
	for _, r := range list {
		if len(r.sealed) > 0 {
			plain, err := s.gate.Open(ctx, s.request(accountActor(accountID), a.subject, ""), s.cfg.Categories.Session, r.sealed)
			if err != nil {
				return nil, fmt.Errorf("identity: open session record: %w", err)
			}
			var cr clientRecord
			if json.Unmarshal(plain, &cr) == nil {
				r.info.IP, r.info.Device = cr.IP, cr.Device
			}
		}
		out = append(out, r.info)
	}
	return out, nil
}

// Revoke ends the session sessionID of accountID. A session of another
// account, or none, is fault.NotFound "identity.session_unknown".
func (s *Service) Revoke(ctx context.Context, accountID, sessionID string) error {
	a, err := s.accountByID(ctx, accountID)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE id = $1 AND account_id = $2", sessionID, accountID)
		if err != nil {
			return fmt.Errorf("identity: revoke: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fault.New(fault.NotFound, "identity.session_unknown")
		}
		_, err = s.audit.AppendTx(ctx, tx, audit.Entry{Actor: accountActor(accountID), Subject: a.subject, Action: "session.revoked",
			Outcome: audit.OutcomeOK, Attrs: map[string]string{"session": printableID(sessionID)}})
		return err
	})
}

// SignOut ends the session of token on the server ("Выход", seed 001
// §2.5). An unknown or already ended token is not an error.
func (s *Service) SignOut(ctx context.Context, token string) error {
	h, ok := tokenHash(token)
	if !ok {
		return nil
	}
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		var id, account, subject string
		err := tx.QueryRowContext(ctx, `SELECT s.id, s.account_id, a.subject_id FROM sessions s JOIN accounts a ON a.id = s.account_id
			WHERE s.token_hash = $1`, h).Scan(&id, &account, &subject)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("identity: sign out: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE id = $1", id); err != nil {
			return fmt.Errorf("identity: sign out: %w", err)
		}
		_, err = s.audit.AppendTx(ctx, tx, audit.Entry{Actor: accountActor(account), Subject: subject, Action: "session.ended",
			Outcome: audit.OutcomeOK, Attrs: map[string]string{"session": id}})
		return err
	})
}

// endSessions deletes every session of accountID in tx and returns how
// many there were.
func endSessions(ctx context.Context, tx *sql.Tx, accountID string) (int, error) {
	res, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE account_id = $1", accountID)
	if err != nil {
		return 0, fmt.Errorf("end sessions: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// ReportUnauthorised records that the owner of accountID reports access by
// someone else (seed 001 §2.5): every session of the account ends (the
// reporting one too), and the report — with the reporter's address and
// browser, sealed — is kept for the operator in access_reports, with an
// audit entry "access.reported". It returns nothing but an error.
func (s *Service) ReportUnauthorised(ctx context.Context, c Client, accountID string) error {
	a, err := s.accountByID(ctx, accountID)
	if err != nil {
		return err
	}
	plain, _ := json.Marshal(clientRecord{IP: ipString(c), Device: deviceOf(c.UserAgent)})
	sealed, err := s.gate.Seal(ctx, s.request(accountActor(accountID), a.subject, c.RequestID), s.cfg.Categories.Session, plain)
	if err != nil {
		return fmt.Errorf("identity: report: %w", err)
	}
	now := s.now()
	return s.db.InTx(ctx, func(tx *sql.Tx) error {
		n, err := endSessions(ctx, tx, accountID)
		if err != nil {
			return err
		}
		var id int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO access_reports (account_id, subject_id, sessions_ended, client, created_at)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`, accountID, a.subject, n, sealed, sqldb.Micros(now)).Scan(&id); err != nil {
			return fmt.Errorf("identity: record report: %w", err)
		}
		_, err = s.audit.AppendTx(ctx, tx, audit.Entry{Actor: accountActor(accountID), Subject: a.subject, Action: "access.reported",
			Outcome: audit.OutcomeOK, RequestID: c.RequestID,
			Attrs: map[string]string{"report_id": strconv.FormatInt(id, 10), "sessions_ended": strconv.Itoa(n)}})
		return err
	})
}

// printableID keeps a caller-supplied id fit for an audit attribute.
func printableID(s string) string {
	if len(s) > 64 || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return "invalid"
	}
	return s
}

// deviceOf reduces a user agent to a coarse "browser, system" for the
// session list: enough to recognise one's own devices, too little to
// fingerprint anyone.
func deviceOf(ua string) string {
	if ua == "" {
		return ""
	}
	browser := ""
	for _, b := range []struct{ token, name string }{
		{"YaBrowser/", "Yandex Browser"}, {"Edg/", "Edge"}, {"OPR/", "Opera"}, {"SamsungBrowser/", "Samsung Internet"},
		{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"}, {"CriOS/", "Chrome"}, {"Chromium/", "Chromium"},
		{"Chrome/", "Chrome"}, {"Safari/", "Safari"}, {"curl/", "curl"}, {"okhttp/", "Android app"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, o := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			system = o.name
			break
		}
	}
	switch {
	case browser != "" && system != "":
		return browser + ", " + system
	case browser != "":
		return browser
	case system != "":
		return system
	}
	return "?"
}

// SignIn is a past sign-in as the person's history shows it.
type SignIn struct {
	SessionID string
	Device    string
	IP        string
	At        time.Time
}

// SignIns returns the account's sign-ins among sessionIDs (the history
// page names them from the audit log), with device and address opened
// through the gate. Sessions of other accounts are not returned.
func (s *Service) SignIns(ctx context.Context, accountID string, sessionIDs []string) (map[string]SignIn, error) {
	out := map[string]SignIn{}
	if len(sessionIDs) == 0 {
		return out, nil
	}
	a, err := s.accountByID(ctx, accountID)
	if err != nil {
		return nil, err
	}
	args := []any{accountID}
	marks := make([]string, len(sessionIDs))
	for i, id := range sessionIDs {
		args = append(args, id)
		marks[i] = fmt.Sprintf("$%d", i+2)
	}
	rows, err := s.db.Reader().QueryContext(ctx, "SELECT session_id, client, created_at FROM sign_ins WHERE account_id = $1 AND session_id IN ("+strings.Join(marks, ", ")+")", args...)
	if err != nil {
		return nil, sqldb.Map(fmt.Errorf("identity: sign-ins: %w", err))
	}
	type row struct {
		id     string
		client []byte
		at     int64
	}
	var list []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.client, &r.at); err != nil {
			rows.Close()
			return nil, sqldb.Map(fmt.Errorf("identity: sign-ins: %w", err))
		}
		list = append(list, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, sqldb.Map(fmt.Errorf("identity: sign-ins: %w", err))
	}
	for _, r := range list {
		si := SignIn{SessionID: r.id, At: sqldb.FromMicros(r.at)}
		if len(r.client) > 0 {
			plain, err := s.gate.Open(ctx, s.request(accountActor(accountID), a.subject, ""), s.cfg.Categories.Session, r.client)
			if err != nil {
				return nil, fmt.Errorf("identity: open sign-in record: %w", err)
			}
			var cr clientRecord
			json.Unmarshal(plain, &cr)
			si.Device, si.IP = cr.Device, cr.IP
		}
		out[r.id] = si
	}
	return out, nil
}
