package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"kabinet/internal/fault"
	"kabinet/internal/sqldb"
)

// Errors a caller must tell apart. Returned errors wrap them, so test with
// errors.Is; fault.KindOf gives their kind.
var (
	// ErrDestroyed: the subject's key was destroyed, so their data can never
	// be decrypted again. Its kind is fault.NotFound — the data are gone for
	// everyone, which no authorisation could change (Forbidden would suggest
	// otherwise) — and it is distinct from ErrUnknownSubject so the gate can
	// answer "destroyed" rather than "not found".
	ErrDestroyed = fault.New(fault.NotFound, "vault.subject_destroyed")
	// ErrUnknownSubject: the key store has no key for the subject.
	ErrUnknownSubject = fault.New(fault.NotFound, "vault.subject_unknown")
	// ErrCorrupt: a ciphertext is malformed, was altered, or belongs to
	// another subject or category.
	ErrCorrupt = fault.New(fault.Invalid, "vault.ciphertext_invalid")
)

// DefaultCacheTTL is the key-cache lifetime kabinet's wiring uses.
const DefaultCacheTTL = 30 * time.Second

// Options tune a Vault. The zero value is valid: real clock, no key cache.
type Options struct {
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// CacheTTL is how long an unwrapped subject key stays in this process's
	// cache; 0 disables the cache. It bounds how long another process may
	// keep using a key this one destroyed, so keep it short
	// (DefaultCacheTTL).
	CacheTTL time.Duration
	// CacheSize bounds the number of cached keys; 0 means 10000.
	CacheSize int
}

// Vault encrypts and decrypts personal-data values under per-subject data
// keys kept, wrapped by the master key, in the key store. It is safe for
// concurrent use. See the package documentation for the design.
type Vault struct {
	db    *sqldb.DB
	clock func() time.Time
	cache *keyCache // nil when disabled

	kr       atomic.Pointer[Keyring]
	reloadMu sync.Mutex
	lastStat time.Time // guarded by reloadMu
}

// schemaLock is the advisory-lock key that serialises EnsureSchema across
// processes starting at once on one PostgreSQL key store.
const schemaLock = 0x6b2d7661756c74 // "k-vault"

// reloadInterval bounds how often CreateSubject looks at the key file for
// a version added by another process.
const reloadInterval = time.Second

// Open returns a Vault over the key store keystore — a database of its own,
// never the main database (see the package documentation) — after creating
// its tables if needed. It fails if the keyring's index key is not the one
// the key store was first used with, or if the key store holds subject
// keys under a master-key version the keyring lacks: both mean a wrong or
// incomplete key file, which is better found at start than as unreadable
// data later.
func Open(ctx context.Context, keystore *sqldb.DB, kr *Keyring, opts Options) (*Vault, error) {
	if kr == nil || len(kr.masters) == 0 {
		return nil, errors.New("vault: no keyring")
	}
	v := &Vault{db: keystore, clock: opts.Clock}
	if v.clock == nil {
		v.clock = time.Now
	}
	if opts.CacheTTL > 0 {
		size := opts.CacheSize
		if size <= 0 {
			size = 10000
		}
		v.cache = newKeyCache(opts.CacheTTL, size)
	}
	v.kr.Store(kr)
	v.lastStat = v.clock()
	if err := EnsureSchema(ctx, keystore); err != nil {
		return nil, err
	}
	check := kr.indexCheck()
	var stored []byte
	err := keystore.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO vault_meta (name, value) VALUES ('index_key_check', $1) ON CONFLICT (name) DO NOTHING`, check); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM vault_meta WHERE name = 'index_key_check'`).Scan(&stored)
	})
	if err != nil {
		return nil, fmt.Errorf("vault: read key store: %w", err)
	}
	if !hmac.Equal(stored, check) {
		return nil, fault.Wrap(fault.Invalid, errors.New("vault: the keyring's index key is not the one this key store was created with (wrong key file?)"), "vault.keyring_mismatch")
	}
	missing, err := v.missingVersions(ctx, kr)
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		return nil, fault.Wrap(fault.Invalid, fmt.Errorf("vault: the key store holds subject keys under master key version(s) %s, which the keyring lacks (%s)", strings.Join(missing, ", "), kr), "vault.keyring_mismatch")
	}
	return v, nil
}

func (v *Vault) missingVersions(ctx context.Context, kr *Keyring) ([]string, error) {
	rows, err := v.db.Reader().QueryContext(ctx, `SELECT DISTINCT key_version FROM subject_keys WHERE wrapped IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("vault: read key versions: %w", sqldb.Map(err))
	}
	defer rows.Close()
	var missing []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("vault: read key versions: %w", sqldb.Map(err))
		}
		if _, ok := kr.master(id); !ok {
			missing = append(missing, id)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("vault: read key versions: %w", sqldb.Map(err))
	}
	slices.Sort(missing)
	return missing, nil
}

// EnsureSchema creates the key store's tables if they do not exist. They
// belong to the vault, not to the main database's migrations, because the
// key store is a separate database. Several processes may call it at once.
func EnsureSchema(ctx context.Context, db *sqldb.DB) error {
	bytesType := "BLOB"
	if db.Engine() == sqldb.Postgres {
		bytesType = "BYTEA"
	}
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		if err := db.LockXact(ctx, tx, schemaLock); err != nil {
			return err
		}
		for _, stmt := range []string{
			// wrapped is NULL exactly when destroyed_at is set: a destroyed
			// subject keeps a tombstone row so that it reads as "destroyed",
			// never as "unknown", and its id is never given a new key.
			`CREATE TABLE IF NOT EXISTS subject_keys (
				subject_id   TEXT PRIMARY KEY,
				key_version  TEXT NOT NULL,
				wrapped      ` + bytesType + `,
				created_at   BIGINT NOT NULL,
				rotated_at   BIGINT,
				destroyed_at BIGINT,
				CHECK ((wrapped IS NULL) = (destroyed_at IS NOT NULL)))`,
			`CREATE INDEX IF NOT EXISTS subject_keys_version ON subject_keys (key_version)`,
			`CREATE TABLE IF NOT EXISTS vault_meta (
				name  TEXT PRIMARY KEY,
				value ` + bytesType + ` NOT NULL)`,
		} {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("vault: create key store schema: %w", err)
	}
	return nil
}

// Keyring returns the keyring in use (it may have been reloaded).
func (v *Vault) Keyring() *Keyring { return v.kr.Load() }

// SetKeyring replaces the keyring, e.g. after "kabinet keys rotate --new"
// when the keys come from the environment. The index key must not change.
func (v *Vault) SetKeyring(kr *Keyring) error {
	if kr == nil || len(kr.masters) == 0 {
		return errors.New("vault: no keyring")
	}
	if !hmac.Equal(kr.index[:], v.kr.Load().index[:]) {
		return fault.Wrap(fault.Invalid, errors.New("vault: the new keyring has a different index key; blind indexes would stop matching"), "vault.keyring_mismatch")
	}
	v.kr.Store(kr)
	return nil
}

// reload re-reads the key file when it changed, so that a version added by
// "kabinet keys rotate --new" in another process is used without restart:
// to unwrap keys that process has rewrapped, and to wrap new keys under
// it. Unless force, it looks at most once per reloadInterval.
func (v *Vault) reload(force bool) error {
	kr := v.kr.Load()
	if kr.path == "" {
		return nil
	}
	v.reloadMu.Lock()
	defer v.reloadMu.Unlock()
	now := v.clock()
	if !force && now.Sub(v.lastStat) < reloadInterval {
		return nil
	}
	v.lastStat = now
	kr = v.kr.Load()
	st, err := os.Stat(kr.path)
	if err != nil {
		return fmt.Errorf("vault: reload keyring: %w", err)
	}
	if (fileStamp{st.ModTime(), st.Size()}) == kr.stamp {
		return nil
	}
	nkr, err := LoadKeyringFile(kr.path)
	if err != nil {
		return fmt.Errorf("vault: reload keyring: %w", err)
	}
	return v.SetKeyring(nkr)
}

// State is what the key store knows of a subject.
type State int

const (
	Unknown   State = iota // no key was ever created
	Active                 // the key exists
	Destroyed              // the key was destroyed: the data are unreadable
)

func (s State) String() string {
	switch s {
	case Active:
		return "active"
	case Destroyed:
		return "destroyed"
	}
	return "unknown"
}

// CreateSubject creates the subject's data key: 32 random bytes, wrapped
// with AES-256-GCM under the current master key, bound to the subject id.
//
// It is idempotent for a subject that has a key (nil, the key unchanged),
// so a retried job or request may call it again. A destroyed subject is
// never given a new key: that is fault.Conflict, since ids are not reused.
func (v *Vault) CreateSubject(ctx context.Context, subjectID string) error {
	if err := checkName("subject id", subjectID); err != nil {
		return err
	}
	// A failed reload keeps the current keyring, which is still valid.
	_ = v.reload(false)
	mk := v.kr.Load().current()
	var dk [KeySize]byte
	defer clear(dk[:])
	rand.Read(dk[:])
	wrapped, err := wrapKey(mk, subjectID, &dk)
	if err != nil {
		return err
	}
	now := v.clock()
	inserted := false
	err = v.db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO subject_keys (subject_id, key_version, wrapped, created_at)
			VALUES ($1, $2, $3, $4) ON CONFLICT (subject_id) DO NOTHING`,
			subjectID, mk.id, wrapped, sqldb.Micros(now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			inserted = n == 1
			return err
		}
		var destroyed sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT destroyed_at FROM subject_keys WHERE subject_id = $1`, subjectID).Scan(&destroyed); err != nil {
			return err
		}
		if destroyed.Valid {
			return fault.Wrap(fault.Conflict, fmt.Errorf("subject %s was destroyed; subject ids are never reused", subjectID), "vault.subject_destroyed")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("vault: create subject key: %w", err)
	}
	if inserted {
		v.cache.put(subjectID, &dk, now)
	}
	return nil
}

// Destroy destroys the subject's data key: the wrapped key is erased and
// the row kept as a tombstone with destroyed_at. From then on every copy
// of the subject's ciphertexts — in the main database and in all of its
// backups — is unreadable, in this process at once and in other processes
// within their cache TTL. Destroying a destroyed subject is a no-op; an
// unknown subject is ErrUnknownSubject.
//
// On SQLite the erased bytes are also overwritten in the key-store file
// (secure_delete) and the write-ahead log is checkpointed and truncated,
// so that the file itself no longer holds the wrapped key. On PostgreSQL
// the old row version lingers until vacuum, and in WAL archives: see the
// package documentation.
func (v *Vault) Destroy(ctx context.Context, subjectID string) error {
	if err := checkName("subject id", subjectID); err != nil {
		return err
	}
	now := v.clock()
	err := v.db.InTx(ctx, func(tx *sql.Tx) error {
		if err := v.secureDelete(ctx, tx); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE subject_keys SET wrapped = NULL, destroyed_at = $2
			WHERE subject_id = $1 AND destroyed_at IS NULL`, subjectID, sqldb.Micros(now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM subject_keys WHERE subject_id = $1`, subjectID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("subject %s: %w", subjectID, ErrUnknownSubject)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("vault: destroy subject key: %w", err)
	}
	v.cache.destroyed(subjectID, now)
	if v.db.Engine() == sqldb.SQLite {
		// Best effort: the destruction is committed, and a checkpoint that
		// cannot run now (readers busy) will run later anyway.
		var busy, logFrames, done int
		_ = v.db.Writer().QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done)
	}
	return nil
}

// secureDelete makes SQLite overwrite deleted and replaced content with
// zeros, so that an erased or rewrapped key does not survive in free space
// of the key-store file. It is set per transaction because it is a
// connection setting and the writer connection may have been reopened.
func (v *Vault) secureDelete(ctx context.Context, tx *sql.Tx) error {
	if v.db.Engine() != sqldb.SQLite {
		return nil
	}
	_, err := tx.ExecContext(ctx, `PRAGMA secure_delete = ON`)
	return err
}

// State reports whether the subject's key is active, destroyed or unknown,
// reading the key store (not the cache).
func (v *Vault) State(ctx context.Context, subjectID string) (State, error) {
	var destroyed sql.NullInt64
	err := v.db.Reader().QueryRowContext(ctx, `SELECT destroyed_at FROM subject_keys WHERE subject_id = $1`, subjectID).Scan(&destroyed)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Unknown, nil
	case err != nil:
		return Unknown, fmt.Errorf("vault: subject state: %w", sqldb.Map(err))
	case destroyed.Valid:
		return Destroyed, nil
	}
	return Active, nil
}

// KeyVersions counts the active subject keys under each master-key
// version, for "kabinet keys status" and to confirm that a rotation left
// nothing under an old version before that version is removed.
func (v *Vault) KeyVersions(ctx context.Context) (map[string]int, error) {
	rows, err := v.db.Reader().QueryContext(ctx, `SELECT key_version, COUNT(*) FROM subject_keys WHERE wrapped IS NOT NULL GROUP BY key_version`)
	if err != nil {
		return nil, fmt.Errorf("vault: count key versions: %w", sqldb.Map(err))
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("vault: count key versions: %w", sqldb.Map(err))
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("vault: count key versions: %w", sqldb.Map(err))
	}
	return out, nil
}

// dataKey returns the subject's unwrapped data key in dst, from the cache
// or the key store.
func (v *Vault) dataKey(ctx context.Context, subjectID string, dst *[KeySize]byte) error {
	if err := checkName("subject id", subjectID); err != nil {
		return err
	}
	now := v.clock()
	switch v.cache.get(subjectID, now, dst) {
	case cacheHit:
		return nil
	case cacheDestroyed:
		return fmt.Errorf("vault: subject %s: %w", subjectID, ErrDestroyed)
	}
	var version string
	var wrapped []byte
	err := v.db.Reader().QueryRowContext(ctx, `SELECT key_version, wrapped FROM subject_keys WHERE subject_id = $1`, subjectID).Scan(&version, &wrapped)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("vault: subject %s: %w", subjectID, ErrUnknownSubject)
	case err != nil:
		return fmt.Errorf("vault: read subject key: %w", sqldb.Map(err))
	case wrapped == nil:
		v.cache.destroyed(subjectID, now)
		return fmt.Errorf("vault: subject %s: %w", subjectID, ErrDestroyed)
	}
	mk, ok := v.kr.Load().master(version)
	if !ok {
		// Another process may have added the version and rewrapped this
		// key under it: look at the key file before giving up.
		rerr := v.reload(true)
		if mk, ok = v.kr.Load().master(version); !ok {
			err := fmt.Errorf("vault: subject %s: key is wrapped under master key version %s, which the keyring lacks", subjectID, version)
			if rerr != nil {
				err = fmt.Errorf("%w (%v)", err, rerr)
			}
			return fault.Wrap(fault.Internal, err, "")
		}
	}
	if err := unwrapKey(mk, subjectID, wrapped, dst); err != nil {
		return err
	}
	v.cache.put(subjectID, dst, now)
	return nil
}

func wrapAAD(subjectID string) []byte { return []byte("kabinet subject key v1|" + subjectID) }

// wrapKey encrypts a data key under a master key: random nonce ‖ ciphertext
// ‖ tag, 60 bytes. The AAD binds it to the subject, so a wrapped key copied
// onto another subject's row does not unwrap.
func wrapKey(mk *masterKey, subjectID string, dk *[KeySize]byte) ([]byte, error) {
	aead, err := newAEAD(&mk.key)
	if err != nil {
		return nil, err
	}
	return aead.Seal(nil, nil, dk[:], wrapAAD(subjectID)), nil
}

func unwrapKey(mk *masterKey, subjectID string, wrapped []byte, dst *[KeySize]byte) error {
	aead, err := newAEAD(&mk.key)
	if err != nil {
		return err
	}
	dk, err := aead.Open(nil, nil, wrapped, wrapAAD(subjectID))
	if err != nil || len(dk) != KeySize {
		clear(dk)
		return fault.Wrap(fault.Internal, fmt.Errorf("vault: subject %s: key does not unwrap under master key %s (altered row, or a different key under the same version id)", subjectID, mk.id), "")
	}
	copy(dst[:], dk)
	clear(dk)
	return nil
}

// newAEAD returns AES-256-GCM with random 96-bit nonces prepended to the
// ciphertext. Random nonces are safe below 2^32 messages per key, far
// beyond what one subject's key or one master key will ever seal.
func newAEAD(key *[KeySize]byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	return aead, nil
}

// checkName validates a subject id or a category: non-empty, at most 255
// bytes. The value is not echoed: a caller's bug could pass personal data.
func checkName(what, s string) error {
	if s == "" || len(s) > 255 {
		return fault.Wrap(fault.Invalid, fmt.Errorf("vault: %s must be 1-255 bytes, got %d", what, len(s)), "")
	}
	return nil
}
