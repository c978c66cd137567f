package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kabinet/internal/sqldb"
	"kabinet/internal/sqldb/sqldbtest"
)

// The point of the package: a backup of the main database taken before a
// destruction, restored after it, yields nothing readable, because the
// main database never held key material. The key store runs on both
// engines; the main database is a SQLite file, so its bytes can be read.
func TestDestroyedDataStayUnreadableAfterRestoringBackup(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, keystore *sqldb.DB) {
		ctx := context.Background()
		v := openVault(t, keystore, newKeyring(t), Options{CacheTTL: DefaultCacheTTL})

		mainURL := sqldbtest.SQLiteURL(t)
		mainPath := strings.TrimPrefix(mainURL, "sqlite:")
		mainDB := sqldbtest.Open(t, mainURL)
		if _, err := mainDB.Writer().ExecContext(ctx, `CREATE TABLE restored_values (subject_id TEXT, category TEXT, sealed BLOB, idx BLOB)`); err != nil {
			t.Fatal(err)
		}
		// Other subjects around alice's row, so that her key shares a page
		// with others, as in a real key store.
		for i := range 40 {
			if err := v.CreateSubject(ctx, fmt.Sprintf("other-%02d", i)); err != nil {
				t.Fatal(err)
			}
		}
		values := map[string]string{"phone": "+79161234567", "email": "alice.unique@example.ru", "inn": "770123456789"}
		for _, s := range []string{"alice", "bob"} {
			if err := v.CreateSubject(ctx, s); err != nil {
				t.Fatal(err)
			}
			for cat, val := range values {
				sealed, err := v.Seal(ctx, s, cat, []byte(val))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := mainDB.Writer().ExecContext(ctx, `INSERT INTO restored_values VALUES ($1, $2, $3, $4)`, s, cat, sealed, v.Index(cat, val)); err != nil {
					t.Fatal(err)
				}
			}
		}
		var wrapped []byte
		if err := keystore.Reader().QueryRowContext(ctx, `SELECT wrapped FROM subject_keys WHERE subject_id = 'alice'`).Scan(&wrapped); err != nil {
			t.Fatal(err)
		}
		var dataKey [KeySize]byte
		if err := v.dataKey(ctx, "alice", &dataKey); err != nil {
			t.Fatal(err)
		}

		// The backup, taken before destruction.
		backup := filepath.Join(t.TempDir(), "main-backup.db")
		if _, err := mainDB.Writer().ExecContext(ctx, `VACUUM INTO '`+backup+`'`); err != nil {
			t.Fatal(err)
		}
		image, err := os.ReadFile(backup)
		if err != nil {
			t.Fatal(err)
		}
		for name, secret := range map[string][]byte{"wrapped key": wrapped, "data key": dataKey[:], "plaintext": []byte(values["email"])} {
			if bytes.Contains(image, secret) {
				t.Errorf("the main database backup contains the %s", name)
			}
		}
		if keystore.Engine() == sqldb.SQLite {
			// Control: the same byte search finds the wrapped key where it is.
			if !bytes.Contains(readKeyStoreFiles(t, keystore, ctx), wrapped) {
				t.Fatal("the key store files do not contain the wrapped key: the byte search proves nothing")
			}
		}

		if err := v.Destroy(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		mainDB.Close()
		if err := os.Rename(backup, mainPath); err != nil { // restore the backup over the main database
			t.Fatal(err)
		}
		os.Remove(mainPath + "-wal")
		os.Remove(mainPath + "-shm")
		restored := sqldbtest.Open(t, mainURL)

		// A process started after the restore, and the one that destroyed.
		fresh := openVault(t, keystore, v.Keyring(), Options{})
		rows, err := restored.Reader().QueryContext(ctx, `SELECT subject_id, category, sealed, idx FROM restored_values ORDER BY subject_id, category`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var s, cat string
			var sealed, idx []byte
			if err := rows.Scan(&s, &cat, &sealed, &idx); err != nil {
				t.Fatal(err)
			}
			n++
			for _, vv := range []*Vault{v, fresh} {
				got, err := vv.Open(ctx, s, cat, sealed)
				switch s {
				case "alice":
					if !errors.Is(err, ErrDestroyed) || got != nil {
						t.Errorf("restored %s of destroyed subject: %q, %v; want ErrDestroyed", cat, got, err)
					}
				case "bob": // the restore itself worked
					if err != nil || string(got) != values[cat] {
						t.Errorf("restored %s of bob: %q, %v", cat, got, err)
					}
				}
			}
			// The blind index still finds the row (it holds no key), but
			// what it finds cannot be read.
			if !bytes.Equal(idx, v.Index(cat, values[cat])) {
				t.Errorf("restored index of %s/%s does not match", s, cat)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if n != 2*len(values) {
			t.Fatalf("restored %d values, want %d", n, 2*len(values))
		}

		// On SQLite the key store file itself no longer holds the erased key.
		if keystore.Engine() == sqldb.SQLite {
			files := readKeyStoreFiles(t, keystore, ctx)
			for i := 0; i+8 <= len(wrapped); i += 4 { // not even a fragment
				if bytes.Contains(files, wrapped[i:i+8]) {
					t.Fatalf("the key store files still contain bytes %d-%d of the destroyed wrapped key", i, i+8)
				}
			}
		}
	})
}

// readKeyStoreFiles returns the bytes of a SQLite key store's database file
// and write-ahead log.
func readKeyStoreFiles(t *testing.T, db *sqldb.DB, ctx context.Context) []byte {
	t.Helper()
	var seq int
	var name, path string
	if err := db.Reader().QueryRowContext(ctx, `PRAGMA database_list`).Scan(&seq, &name, &path); err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, p := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}
