package vault

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kabinet/internal/fault"
)

func TestLoadKeyringFormats(t *testing.T) {
	k1, k2, ix := randomKey(), randomKey(), randomKey()
	unpadded := base64.RawStdEncoding.EncodeToString(k2)
	file := "# kabinet keys\n\nmaster k1 " + b64(k1) + "   # the first\r\nmaster k2 " + unpadded + "\nindex " + b64(ix) + "\n"
	env := "master k1 " + b64(k1) + ";master k2 " + b64(k2) + "; index " + b64(ix)
	for name, text := range map[string]string{"file": file, "env": env} {
		t.Run(name, func(t *testing.T) {
			kr, err := LoadKeyring(text)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(kr.Versions(), ","); got != "k1,k2" {
				t.Errorf("Versions = %s, want k1,k2", got)
			}
			if kr.Current() != "k2" {
				t.Errorf("Current = %s, want k2 (the last listed)", kr.Current())
			}
			if m, _ := kr.master("k2"); !bytes.Equal(m.key[:], k2) {
				t.Error("k2 decoded wrongly")
			}
			if !bytes.Equal(kr.index[:], ix) {
				t.Error("index key decoded wrongly")
			}
		})
	}
}

func TestLoadKeyringErrorsAreClearAndKeepKeysSecret(t *testing.T) {
	good := b64(randomKey())
	short := b64(randomKey()[:31])
	badB64 := "AAAA$" + good[5:]
	ix := "index " + b64(randomKey())
	for _, tc := range []struct {
		name, text, want string
	}{
		{"bad base64", "master k1 " + badB64 + "\n" + ix, "line 1: master key k1: not valid base64"},
		{"wrong length", "master k1 " + good + "\nindex " + short, "line 2: index key: decodes to 31 bytes, want 32"},
		{"duplicate id", "master k1 " + good + "\nmaster k1 " + b64(randomKey()) + "\n" + ix, "line 2: master key id k1 already used on line 1"},
		{"identical keys", "master k1 " + good + "\nmaster k2 " + good + "\n" + ix, "master key k2 is identical to k1"},
		{"no master key", "# nothing\n" + ix, "no master key"},
		{"no index key", "master k1 " + good, "no index key"},
		{"two index keys", "master k1 " + good + "\n" + ix + "\nindex " + b64(randomKey()), "line 3: second index key (first on line 2)"},
		{"missing id", "master " + good + "\n" + ix, `line 1: want "master ID BASE64"`},
		{"key as first word", good + "\n" + ix, "line 1: unknown entry"},
		{"bad id", "master k/1 " + good + "\n" + ix, "line 1: master key id must be"},
		{"env entry", "master k1 " + good + ";index " + short, "line 1 entry 2: index key: decodes to 31 bytes"},
		{"index equals master", "master k1 " + good + "\nindex " + good, "index key is identical to master key k1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadKeyring(tc.text)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not say %q", msg, tc.want)
			}
			if fault.KindOf(err) != fault.Invalid {
				t.Errorf("kind %v, want invalid", fault.KindOf(err))
			}
			for _, secret := range []string{good, short, badB64, good[:12], short[:12], ix[6:18]} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q echoes key material", msg)
				}
			}
		})
	}
}

func TestKeyringNeverPrintsKeys(t *testing.T) {
	kr := newKeyring(t, "k1", "k2")
	m, _ := kr.master("k1")
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(f, kr) + fmt.Sprintf(f, *kr) + fmt.Sprintf(f, []*Keyring{kr})
		for _, key := range [][]byte{m.key[:], kr.index[:]} {
			if strings.Contains(out, b64(key)) || strings.Contains(out, strings.Trim(fmt.Sprint(key[:6]), "[]")) || strings.Contains(out, fmt.Sprintf("%x", key[:8])) {
				t.Errorf("%s of keyring prints key material: %s", f, out)
			}
		}
		if !strings.Contains(out, "k1,k2") {
			t.Errorf("%s of keyring = %q, want the versions named", f, out)
		}
	}
}

func TestCreateAndLoadKeyringFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "master.keys")
	kr, created, err := LoadOrCreateKeyringFile(path)
	if err != nil || !created {
		t.Fatalf("LoadOrCreate on no file: created=%v err=%v", created, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	if _, err := CreateKeyringFile(path); !errors.Is(err, fault.ErrConflict) {
		t.Errorf("CreateKeyringFile over an existing file: %v, want conflict", err)
	}
	again, created, err := LoadOrCreateKeyringFile(path)
	if err != nil || created {
		t.Fatalf("LoadOrCreate on existing file: created=%v err=%v", created, err)
	}
	if again.Current() != "k1" || !bytes.Equal(again.Index("phone", "+79001234567"), kr.Index("phone", "+79001234567")) {
		t.Error("the loaded keyring differs from the created one")
	}
	if again.Path() != path {
		t.Errorf("Path = %q", again.Path())
	}
	if _, err := LoadKeyringFile(filepath.Join(t.TempDir(), "none")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadKeyringFile of a missing file: %v", err)
	}
}

func TestAddVersionAppendsToFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.keys")
	kr1 := newKeyring(t, "k1")
	if err := os.WriteFile(path, []byte("# operator's note\n"+keyringText(kr1, "k1")), 0o600); err != nil {
		t.Fatal(err)
	}
	kr, err := LoadKeyringFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kr2, err := kr.AddVersion()
	if err != nil {
		t.Fatal(err)
	}
	if kr2.Current() != "k2" || strings.Join(kr2.Versions(), ",") != "k1,k2" {
		t.Errorf("after AddVersion: %v", kr2)
	}
	if kr.Current() != "k1" {
		t.Errorf("AddVersion changed the receiver: %v", kr)
	}
	text, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(text), "# operator's note\n") {
		t.Errorf("AddVersion lost the file's comment:\n%s", text)
	}
	kr3, err := kr.AddVersion() // from a stale keyring: numbers past the file's k2
	if err != nil {
		t.Fatal(err)
	}
	if kr3.Current() != "k3" {
		t.Errorf("second AddVersion made %s, want k3", kr3.Current())
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode after AddVersion %v", st.Mode().Perm())
	}
	if _, err := newKeyring(t).AddVersion(); fault.KindOf(err) != fault.Invalid {
		t.Errorf("AddVersion on an environment keyring: %v, want invalid", err)
	}
}
