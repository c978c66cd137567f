package vault

import (
	"context"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
)

// formatV1 is the first byte of every sealed value: AES-256-GCM, random
// 96-bit nonce. A later format gets a new byte, and Open keeps reading the
// old ones.
const formatV1 = 0x01

// Overhead is how many bytes Seal adds to a plaintext: the format byte,
// the 12-byte nonce and the 16-byte tag.
const Overhead = 1 + 12 + 16

// SubjectKey is a subject's data key, unwrapped once, for sealing and
// opening several values of that subject (one gate call reading several
// categories). Keep it for one operation only: a handle already taken
// still works after the subject is destroyed. It is safe for concurrent
// use.
type SubjectKey struct {
	subject string
	aead    cipher.AEAD
}

// SubjectKey fetches and unwraps the subject's data key. Errors:
// ErrDestroyed, ErrUnknownSubject, fault.Invalid for a malformed id,
// otherwise a key-store or keyring failure.
func (v *Vault) SubjectKey(ctx context.Context, subjectID string) (*SubjectKey, error) {
	var dk [KeySize]byte
	defer clear(dk[:])
	if err := v.dataKey(ctx, subjectID, &dk); err != nil {
		return nil, err
	}
	aead, err := newAEAD(&dk)
	if err != nil {
		return nil, err
	}
	return &SubjectKey{subject: subjectID, aead: aead}, nil
}

// Subject returns the subject id the key belongs to.
func (k *SubjectKey) Subject() string { return k.subject }

// Seal encrypts one value of the subject in category. The result is
// format byte ‖ nonce ‖ ciphertext ‖ tag (len(plaintext)+Overhead bytes);
// the subject id and category are authenticated with it, so it opens only
// for the same subject and category.
func (k *SubjectKey) Seal(category string, plaintext []byte) ([]byte, error) {
	if err := checkName("category", category); err != nil {
		return nil, err
	}
	out := make([]byte, 1, len(plaintext)+Overhead)
	out[0] = formatV1
	return k.aead.Seal(out, nil, plaintext, valueAAD(k.subject, category)), nil
}

// Open decrypts a value sealed for the subject in category. A value that
// is malformed, altered, or sealed for another subject or category is
// ErrCorrupt (fault.Invalid).
func (k *SubjectKey) Open(category string, sealed []byte) ([]byte, error) {
	if err := checkName("category", category); err != nil {
		return nil, err
	}
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("vault: %d-byte value is too short: %w", len(sealed), ErrCorrupt)
	}
	if sealed[0] != formatV1 {
		return nil, fmt.Errorf("vault: unknown value format %#x: %w", sealed[0], ErrCorrupt)
	}
	pt, err := k.aead.Open(nil, nil, sealed[1:], valueAAD(k.subject, category))
	if err != nil {
		return nil, fmt.Errorf("vault: value of subject %s, category %s does not authenticate: %w", k.subject, category, ErrCorrupt)
	}
	return pt, nil
}

// valueAAD binds a value to the format, subject and category. Lengths are
// prefixed so that no two (subject, category) pairs encode alike.
func valueAAD(subject, category string) []byte {
	b := make([]byte, 0, 32+len(subject)+len(category))
	b = append(b, "kabinet value v1"...)
	b = append(b, formatV1)
	b = binary.AppendUvarint(b, uint64(len(subject)))
	b = append(b, subject...)
	b = binary.AppendUvarint(b, uint64(len(category)))
	return append(b, category...)
}

// Seal encrypts plaintext for the subject in category (see SubjectKey.Seal).
// Errors: those of SubjectKey, and fault.Invalid for a bad category.
func (v *Vault) Seal(ctx context.Context, subjectID, category string, plaintext []byte) ([]byte, error) {
	k, err := v.SubjectKey(ctx, subjectID)
	if err != nil {
		return nil, err
	}
	return k.Seal(category, plaintext)
}

// Open decrypts a value sealed for the subject in category. Errors:
// ErrDestroyed (checked before the value is looked at, so any old copy of
// a destroyed subject's data says so), ErrUnknownSubject, ErrCorrupt.
func (v *Vault) Open(ctx context.Context, subjectID, category string, sealed []byte) ([]byte, error) {
	k, err := v.SubjectKey(ctx, subjectID)
	if err != nil {
		return nil, err
	}
	return k.Open(category, sealed)
}
