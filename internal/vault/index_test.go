package vault

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func TestIndexIsDeterministicPerCategoryAndKey(t *testing.T) {
	kr := newKeyring(t)
	a := kr.Index("phone", "+79001234567")
	if len(a) != IndexSize {
		t.Fatalf("index is %d bytes, want %d", len(a), IndexSize)
	}
	if b := kr.Index("phone", "+79001234567"); !bytes.Equal(a, b) {
		t.Error("the same value indexes differently")
	}
	if b := kr.Index("phone", "+79001234568"); bytes.Equal(a, b) {
		t.Error("different values index alike")
	}
	if b := kr.Index("login", "+79001234567"); bytes.Equal(a, b) {
		t.Error("the same value indexes alike in two categories")
	}
	// Master versions do not change the index; the index key does.
	if b := newKeyring(t).Index("phone", "+79001234567"); bytes.Equal(a, b) {
		t.Error("two index keys give the same index")
	}
	withMore, err := LoadKeyring(keyringText(kr, "k1") + "master k2 " + b64(randomKey()))
	if err != nil {
		t.Fatal(err)
	}
	if b := withMore.Index("phone", "+79001234567"); !bytes.Equal(a, b) {
		t.Error("adding a master version changed the index")
	}
}

// The derivation is pinned: a change would make every stored index
// unfindable. The expected values were computed independently, with
// Python's hmac module implementing RFC 5869 HKDF by hand.
func TestIndexKnownAnswer(t *testing.T) {
	key := make([]byte, KeySize)
	for i := range key {
		key[i] = byte(i)
	}
	kr, err := LoadKeyring("master k1 " + b64(randomKey()) + "\nindex " + b64(key))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ category, value, want string }{
		{"phone", "+79001234567", "7c274016eb1c0c989787b6c10e4edc45"},
		{"email", "ivan@example.ru", "0c4bba34c1fd196201810f21537a7829"},
	} {
		if got := hex.EncodeToString(kr.Index(tc.category, tc.value)); got != tc.want {
			t.Errorf("Index(%s) = %s, want %s", tc.category, got, tc.want)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	if got := NormalizeEmail("  Ivan.Petrov+kabinet@Example.RU "); got != "ivan.petrov+kabinet@example.ru" {
		t.Errorf("NormalizeEmail = %q", got)
	}
}
