package receipts

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeyFileName is the receipt key file's name in the data directory.
const KeyFileName = "receipt.keys"

// LoadKeyFile reads a receipt key file: lines "ed25519 KID BASE64-SEED"
// (standard base64 of a 32-byte Ed25519 seed; KID printable ASCII without
// spaces, at most 128 bytes, unique), blank lines and "#" comments. The
// last key signs; all verify. Errors name the file and line; a missing
// file is an error matching fs.ErrNotExist.
func LoadKeyFile(path string) (*Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("receipts: key file: %w", err)
	}
	return parseKeyFile(path, data)
}

func parseKeyFile(path string, data []byte) (*Signer, error) {
	s := &Signer{keys: map[string]ed25519.PrivateKey{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "ed25519" {
			return nil, fmt.Errorf("receipts: %s:%d: want \"ed25519 KID BASE64-SEED\"", path, n)
		}
		if !validKID(f[1]) {
			return nil, fmt.Errorf("receipts: %s:%d: the key id must be printable ASCII without spaces, at most 128 bytes", path, n)
		}
		seed, err := base64.StdEncoding.DecodeString(f[2])
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("receipts: %s:%d: the key is not a base64 Ed25519 seed of %d bytes", path, n, ed25519.SeedSize)
		}
		if _, dup := s.keys[f[1]]; dup {
			return nil, fmt.Errorf("receipts: %s:%d: key id %s appears twice", path, n, f[1])
		}
		s.kids = append(s.kids, f[1])
		s.keys[f[1]] = ed25519.NewKeyFromSeed(seed)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("receipts: %s: %w", path, err)
	}
	if len(s.kids) == 0 {
		return nil, fmt.Errorf("receipts: %s: no key", path)
	}
	return s, nil
}

// LoadOrCreateKeyFile loads the key file at path, or creates it (mode
// 0600, its directory 0700) with one new key when it does not exist,
// reporting created. The new key's id is its JWK thumbprint (RFC 7638),
// so ids of different operators never collide. Two processes creating the
// file at once agree: the loser loads the winner's file.
func LoadOrCreateKeyFile(path string) (s *Signer, created bool, err error) {
	s, err = LoadKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return s, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("receipts: key file: %w", err)
	}
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	body := "# kabinet consent receipt signing keys: the last signs receipts, all verify them.\n" +
		"# Rotate by appending a line \"ed25519 KID BASE64-SEED\"; never delete a key that signed receipts still kept.\n" +
		"ed25519 " + Thumbprint(pub) + " " + base64.StdEncoding.EncodeToString(seed) + "\n"
	// Written aside and linked into place: link fails when the file
	// exists, so a process that loses a race reads the winner's complete
	// file, never a half-written one.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".receipt-keys-*")
	if err != nil {
		return nil, false, fmt.Errorf("receipts: key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(body)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	if errors.Is(err, fs.ErrExist) {
		s, err = LoadKeyFile(path)
		return s, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("receipts: key file: %w", err)
	}
	s, err = parseKeyFile(path, []byte(body))
	return s, err == nil, err
}

// Thumbprint is the JWK thumbprint (RFC 7638, SHA-256, base64url) of an
// Ed25519 public key.
func Thumbprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + b64.EncodeToString(pub) + `"}`))
	return b64.EncodeToString(sum[:])
}

func validKID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
