package vault

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"kabinet/internal/fault"
)

// EnvMasterKeys names the environment variable that may hold the keyring in
// the key-file format, its lines separated by newlines or ';'.
const EnvMasterKeys = "KABINET_MASTER_KEYS"

// KeySize is the size of every key the vault handles: master keys, the
// index key and subject data keys (AES-256).
const KeySize = 32

// masterKey is one version of the master key. It is unexported, with a
// String that names only the version, so that no %v of a keyring or its
// parts can print key bytes into a log.
type masterKey struct {
	id  string
	key [KeySize]byte
}

// Keyring holds the master-key versions that wrap subject keys and the
// index key that makes blind indexes. It is immutable: AddVersion returns a
// new Keyring, so one may be shared by goroutines and swapped atomically.
//
// The newest version — the last "master" line of the file — is current:
// new subject keys are wrapped under it, and Rotate rewraps the others to
// it. Older versions stay only to unwrap keys not yet rotated.
//
// The index key is deliberately not versioned with the master keys: a
// blind index is stored next to the ciphertext and looked up by
// recomputing it, so changing the index key would make every stored index
// unfindable until all of them were recomputed from decrypted values.
type Keyring struct {
	masters []masterKey // in file order; the last is current
	index   [KeySize]byte

	// path and stamp identify the file the keyring came from ("" for text
	// or the environment), so that a Vault can notice a new version added
	// by another process and that AddVersion can persist one.
	path  string
	stamp fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// String names the versions and never prints key material. It has a
// value receiver so that printing a Keyring value is as safe as printing
// a pointer.
func (kr Keyring) String() string {
	return fmt.Sprintf("keyring(master %s, current %s, index key)", strings.Join(kr.Versions(), ","), kr.Current())
}

// GoString keeps %#v as safe as %v.
func (kr Keyring) GoString() string { return kr.String() }

// Current returns the ID of the current master-key version ("" for an
// empty Keyring, which no loader returns).
func (kr *Keyring) Current() string {
	if len(kr.masters) == 0 {
		return ""
	}
	return kr.current().id
}

// Versions returns the master-key IDs, oldest first (the last is current).
func (kr *Keyring) Versions() []string {
	ids := make([]string, len(kr.masters))
	for i, m := range kr.masters {
		ids[i] = m.id
	}
	return ids
}

// Path returns the key file the keyring was loaded from, or "" when it
// came from text (the environment).
func (kr *Keyring) Path() string { return kr.path }

func (kr *Keyring) current() *masterKey { return &kr.masters[len(kr.masters)-1] }

func (kr *Keyring) master(id string) (*masterKey, bool) {
	for i := range kr.masters {
		if kr.masters[i].id == id {
			return &kr.masters[i], true
		}
	}
	return nil, false
}

// IndexSize is the length of a blind index.
const IndexSize = 16

// Index returns the blind index of value in category: HMAC-SHA256 under a
// key derived for the category from the index key with HKDF, truncated to
// IndexSize bytes. The caller normalises value first (E.164 for phones,
// NormalizeEmail for e-mail, digits only for INN), because the index is
// exact: "+7 900…" and "8900…" are different values to it.
//
// A per-category key means equal values in different categories (a phone
// that is also a login) do not produce equal indexes, so the index columns
// cannot be joined against each other.
//
// Truncation to 128 bits halves the column and its B-tree while keeping
// accidental collisions out of reach (about 2^64 values per category
// before one is likely), so an index may be UNIQUE and a match needs no
// confirming decryption. It gives no k-anonymity: whoever holds the index
// key can test guesses (phone numbers are a small space), which is why the
// index key is as secret as the master keys; and equal values have equal
// indexes, which is what makes lookup possible.
func (kr *Keyring) Index(category, value string) []byte {
	// hkdf.Key fails only for an output longer than 255 hash blocks.
	k, err := hkdf.Key(sha256.New, kr.index[:], nil, "kabinet blind index v1|"+category, KeySize)
	if err != nil {
		panic("vault: hkdf: " + err.Error())
	}
	mac := hmac.New(sha256.New, k)
	clear(k)
	mac.Write([]byte(value))
	return mac.Sum(nil)[:IndexSize]
}

// indexCheck is a value that identifies the index key without revealing
// it, stored in the key store so that a wrong key file is noticed at Open
// rather than as lookups that silently find nothing.
func (kr *Keyring) indexCheck() []byte {
	mac := hmac.New(sha256.New, kr.index[:])
	mac.Write([]byte("kabinet index key check v1"))
	return mac.Sum(nil)[:IndexSize]
}

// LoadKeyring parses a keyring in the key-file format:
//
//	# comment
//	master k1 BASE64   (32 bytes; one line per version, the last is current)
//	master k2 BASE64
//	index BASE64       (32 bytes; exactly one)
//
// Lines may also be separated by ';' (for the environment variable).
// Errors name the line and the problem and never contain key material.
func LoadKeyring(text string) (*Keyring, error) {
	type entry struct {
		where string // "line 3", or "line 1 entry 2" for ';'-separated text
		text  string
	}
	var entries []entry
	for i, line := range strings.Split(text, "\n") {
		if c := strings.IndexByte(line, '#'); c >= 0 { // '#' is not in the base64 alphabet
			line = line[:c]
		}
		parts := strings.Split(line, ";")
		for j, p := range parts {
			where := "line " + strconv.Itoa(i+1)
			if len(parts) > 1 {
				where += " entry " + strconv.Itoa(j+1)
			}
			entries = append(entries, entry{where, p})
		}
	}
	kr := &Keyring{}
	seenIndex := ""
	lineOf := map[string]string{}
	for _, e := range entries {
		n := e.where
		f := strings.Fields(e.text)
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "master" && len(f) == 3:
			id := f[1]
			if !validID(id) {
				return nil, keyringErr("%s: master key id must be 1-32 letters, digits, '.', '_' or '-'", n)
			}
			if prev, dup := lineOf[id]; dup {
				return nil, keyringErr("%s: master key id %s already used on %s", n, id, prev)
			}
			key, err := decodeKey(f[2])
			if err != nil {
				return nil, keyringErr("%s: master key %s: %v", n, id, err)
			}
			for _, m := range kr.masters {
				if subtle.ConstantTimeCompare(m.key[:], key[:]) == 1 {
					return nil, keyringErr("%s: master key %s is identical to %s", n, id, m.id)
				}
			}
			lineOf[id] = n
			kr.masters = append(kr.masters, masterKey{id: id, key: key})
		case f[0] == "index" && len(f) == 2:
			if seenIndex != "" {
				return nil, keyringErr("%s: second index key (first on %s); there must be exactly one", n, seenIndex)
			}
			key, err := decodeKey(f[1])
			if err != nil {
				return nil, keyringErr("%s: index key: %v", n, err)
			}
			kr.index, seenIndex = key, n
		case f[0] == "master":
			return nil, keyringErr("%s: want \"master ID BASE64\"", n)
		case f[0] == "index":
			return nil, keyringErr("%s: want \"index BASE64\"", n)
		default:
			// The first word is not echoed: a misplaced key would be.
			return nil, keyringErr("%s: unknown entry; want \"master ID BASE64\" or \"index BASE64\"", n)
		}
	}
	if len(kr.masters) == 0 {
		return nil, keyringErr("no master key; want at least one \"master ID BASE64\" line")
	}
	if seenIndex == "" {
		return nil, keyringErr("no index key; want one \"index BASE64\" line")
	}
	for _, m := range kr.masters {
		if subtle.ConstantTimeCompare(m.key[:], kr.index[:]) == 1 {
			return nil, keyringErr("index key is identical to master key %s", m.id)
		}
	}
	return kr, nil
}

func keyringErr(format string, args ...any) error {
	return fault.Wrap(fault.Invalid, fmt.Errorf("keyring: "+format, args...), "vault.keyring_invalid")
}

func validID(id string) bool {
	if id == "" || len(id) > 32 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// decodeKey accepts standard base64, padded or not. Its errors describe
// the value's shape only.
func decodeKey(s string) ([KeySize]byte, error) {
	var key [KeySize]byte
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		return key, errors.New("not valid base64")
	}
	defer clear(b)
	if len(b) != KeySize {
		return key, fmt.Errorf("decodes to %d bytes, want %d", len(b), KeySize)
	}
	copy(key[:], b)
	return key, nil
}

// LoadKeyringFile reads a key file (see LoadKeyring). The file should be
// readable by kabinet's user only; that is the deployer's duty and is not
// checked, because secret mounts often show other modes.
func LoadKeyringFile(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keyring file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keyring file: %w", err)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, fmt.Errorf("keyring file %s: %w", path, err)
	}
	defer clear(buf.Bytes())
	kr, err := LoadKeyring(buf.String())
	if err != nil {
		return nil, fmt.Errorf("keyring file %s: %w", path, err)
	}
	kr.path = path
	kr.stamp = fileStamp{mod: st.ModTime(), size: st.Size()}
	return kr, nil
}

const keyFileHeader = `# kabinet keyring. SECRET: with this file and a copy of the key store,
# anyone can read every subject's personal data.
# Keep it out of database backups and back it up on its own.
#   master ID BASE64   a master-key version; the last one listed is current
#   index BASE64       the blind-index key; never change or remove it
# Add a version with "kabinet keys rotate --new"; remove an old version only
# after "kabinet keys rotate" reports no subject key left under it.
`

// CreateKeyringFile generates a keyring — master key k1 and an index key —
// and writes it to path with mode 0600. It fails if path exists, so it
// never overwrites keys.
func CreateKeyringFile(path string) (*Keyring, error) {
	kr := &Keyring{masters: []masterKey{{id: "k1"}}}
	rand.Read(kr.masters[0].key[:])
	rand.Read(kr.index[:])
	text := keyFileHeader + masterLine(&kr.masters[0]) + "index " + base64.StdEncoding.EncodeToString(kr.index[:]) + "\n"
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create keyring file: %w", err)
	}
	if err := writeNew(path, []byte(text)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fault.Wrap(fault.Conflict, fmt.Errorf("create keyring file %s: it exists; refusing to overwrite keys: %w", path, err), "")
		}
		return nil, fmt.Errorf("create keyring file: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("create keyring file: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("create keyring file: %w", err)
	}
	kr.path, kr.stamp = path, fileStamp{mod: st.ModTime(), size: st.Size()}
	return kr, nil
}

// LoadOrCreateKeyringFile loads the key file at path, or creates it when
// it does not exist, reporting created = true. It is for the demo: the
// caller must warn loudly on creation that the keys live next to the data
// and that losing the file loses every subject's data.
func LoadOrCreateKeyringFile(path string) (kr *Keyring, created bool, err error) {
	kr, err = LoadKeyringFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return kr, false, err
	}
	kr, err = CreateKeyringFile(path)
	if errors.Is(err, fault.ErrConflict) { // another process created it first
		kr, err = LoadKeyringFile(path)
		return kr, false, err
	}
	return kr, err == nil, err
}

// AddVersion generates a new master-key version (k<N+1>), appends it to
// the key file the keyring was loaded from — keeping the file's other
// lines — and returns the new keyring, whose current version it is. kr is
// unchanged.
//
// The file is written before the new version is returned, because a
// version that exists only in memory would wrap subject keys that no
// restart could unwrap. A keyring from the environment therefore cannot
// add versions (fault.Invalid): add a "master kN BASE64" entry to
// KABINET_MASTER_KEYS yourself (e.g. from "openssl rand -base64 32").
// Two AddVersion calls on one file at once: the second fails with
// fault.Conflict.
func (kr *Keyring) AddVersion() (*Keyring, error) {
	if kr.path == "" {
		return nil, fault.Wrap(fault.Invalid, errors.New("keyring: not loaded from a file; add a master key line to "+EnvMasterKeys+" and restart"), "vault.keyring_not_file")
	}
	old, err := os.ReadFile(kr.path)
	if err != nil {
		return nil, fmt.Errorf("keyring add version: %w", err)
	}
	defer clear(old)
	// Re-parse the file as it is now, not as kr saw it, so that a version
	// added meanwhile is kept and numbered past.
	cur, err := LoadKeyring(string(old))
	if err != nil {
		return nil, fmt.Errorf("keyring file %s: %w", kr.path, err)
	}
	next := 0
	for _, m := range cur.masters {
		if n, err := strconv.Atoi(strings.TrimPrefix(m.id, "k")); err == nil && strings.HasPrefix(m.id, "k") && n > next {
			next = n
		}
	}
	mk := masterKey{id: "k" + strconv.Itoa(next+1)}
	rand.Read(mk.key[:])
	text := append([]byte(nil), old...)
	defer clear(text)
	if len(text) > 0 && text[len(text)-1] != '\n' {
		text = append(text, '\n')
	}
	text = append(text, masterLine(&mk)...)

	// The temporary file is created exclusively, so it doubles as a lock
	// against a concurrent AddVersion; rename makes the change atomic.
	tmp := kr.path + ".new"
	if err := writeNew(tmp, text); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fault.Wrap(fault.Conflict, fmt.Errorf("keyring add version: %s exists: another version is being added (remove it if stale): %w", tmp, err), "")
		}
		return nil, fmt.Errorf("keyring add version: %w", err)
	}
	if err := os.Rename(tmp, kr.path); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("keyring add version: %w", err)
	}
	if err := syncDir(filepath.Dir(kr.path)); err != nil {
		return nil, fmt.Errorf("keyring add version: %w", err)
	}
	return LoadKeyringFile(kr.path)
}

func masterLine(m *masterKey) string {
	return "master " + m.id + " " + base64.StdEncoding.EncodeToString(m.key[:]) + "\n"
}

// writeNew creates path exclusively with mode 0600 and writes data durably.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
