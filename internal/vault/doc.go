// Package vault keeps personal data encrypted at rest and makes destruction
// final: every value is sealed with AES-256-GCM under a data key of its own
// subject, and destroying that key leaves every copy of the subject's data
// unreadable (crypto-shredding). Only the gate should call Open.
//
// # Keys
//
// A Keyring, loaded from a key file or from KABINET_MASTER_KEYS, holds
// master-key versions ("k1", "k2", …; the last one is current) and one
// index key. Each subject's 32-byte data key is random and stored wrapped
// (AES-256-GCM) under a master key, with the subject id as associated data
// so a wrapped key moved onto another subject does not unwrap. A sealed
// value is a format byte, a random nonce, the ciphertext and the tag; its
// associated data binds subject id and category, so a value moved to
// another subject or category does not open.
//
// # The key store is not the main database
//
// Wrapped subject keys live in the vault's own key store — a separate
// *sqldb.DB (by default sqlite:<data dir>/keys.db; on PostgreSQL a separate
// database with its own URL) whose tables EnsureSchema creates. The main
// database holds only ciphertexts and blind indexes. This is what makes
// destruction survive backups: a backup of the main database contains no
// key material, so restoring it after a destruction restores nothing
// readable. The key store must be backed up separately, and its backups
// (and, on PostgreSQL, its WAL archives and replicas' delay) kept no
// longer than the shortest destruction deadline the operator must meet
// (for 152-FZ: 7 working days under art. 20 p.3, 30 days under art. 21
// p.4–5): until the last backup taken before a destruction expires, the key
// can still be recovered from it. The key file goes in neither backup.
//
// On SQLite, Destroy also overwrites the erased key inside the key-store
// file (secure_delete) and truncates its write-ahead log. On PostgreSQL
// the previous row version remains in the table until (auto)vacuum reclaims
// it, typically within minutes; that is within the deadline but is another
// reason the key store must not share a database, or its backups, with
// anything kept longer.
//
// # Rotation
//
// Master keys rotate without touching data: "kabinet keys rotate --new"
// (Keyring.AddVersion) appends a version to the key file, and Rotate
// rewraps subject keys under it in small transactions while kabinet
// serves. A Vault whose keyring came from a file notices the new version
// by itself (when it meets a key wrapped under a version it lacks, and
// within a second for new keys); one configured from the environment must
// be given the new keyring (SetKeyring or restart) before rotation starts.
// Remove an old version only when KeyVersions shows no key under it; Open
// refuses a keyring that lacks a version still in use.
//
// # Blind indexes
//
// Index gives a keyed, deterministic 16-byte HMAC of a normalised value
// per category, for lookups by phone, e-mail or INN without decryption.
// The index key is not rotated with the master keys: indexes must stay
// stable to be found, so changing it means recomputing every index from
// decrypted values. Open checks that the index key is the one the key
// store was first used with.
//
// # Cache
//
// Unwrapped data keys may be cached in process for Options.CacheTTL
// (DefaultCacheTTL, 30 s; 0 disables). Destroy evicts the key in its own
// process at once, but another kabinet process sharing the key store may
// keep using a destroyed key for at most its TTL. Evicted keys are zeroed;
// copies inside the AES key schedule and the garbage collector's reach
// cannot be, which is why the cache, and SubjectKey handles, are
// short-lived.
//
// Errors: ErrDestroyed and ErrUnknownSubject (both fault.NotFound, told
// apart with errors.Is), ErrCorrupt (fault.Invalid). No error carries key
// material or plaintext.
package vault
