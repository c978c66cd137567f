package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"kabinet/internal/config"
	"kabinet/internal/sqldb"
	"kabinet/internal/vault"
)

// auditKeys are the Ed25519 keys that sign audit checkpoints: the last is
// the signer; all verify. The file holds lines "ed25519 ID BASE64-SEED".
type auditKeys struct {
	ids  []string
	keys map[string]ed25519.PrivateKey
}

func (k *auditKeys) signer() (string, ed25519.PrivateKey) {
	id := k.ids[len(k.ids)-1]
	return id, k.keys[id]
}

func (k *auditKeys) public() map[string]ed25519.PublicKey {
	out := map[string]ed25519.PublicKey{}
	for id, priv := range k.keys {
		out[id] = priv.Public().(ed25519.PublicKey)
	}
	return out
}

func loadAuditKeys(path string) (*auditKeys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	k := &auditKeys{keys: map[string]ed25519.PrivateKey{}}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 3 || fields[0] != "ed25519" {
			return nil, fmt.Errorf("%s:%d: want \"ed25519 ID BASE64-SEED\"", path, n)
		}
		seed, err := base64.StdEncoding.DecodeString(fields[2])
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("%s:%d: the key is not a base64 Ed25519 seed of %d bytes", path, n, ed25519.SeedSize)
		}
		if _, dup := k.keys[fields[1]]; dup {
			return nil, fmt.Errorf("%s:%d: key id %s appears twice", path, n, fields[1])
		}
		k.ids = append(k.ids, fields[1])
		k.keys[fields[1]] = ed25519.NewKeyFromSeed(seed)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(k.ids) == 0 {
		return nil, fmt.Errorf("%s: no key", path)
	}
	return k, nil
}

// createAuditKeys writes a new audit key file with one key; it fails if
// the file exists.
func createAuditKeys(path string) (*auditKeys, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	seed := make([]byte, ed25519.SeedSize)
	rand.Read(seed)
	body := "# kabinet audit signing keys: the last signs checkpoints, all verify them.\n# Keep a copy of the public keys outside this machine.\ned25519 a1 " + base64.StdEncoding.EncodeToString(seed) + "\n"
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.WriteString(body); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return loadAuditKeys(path)
}

// secrets are the keys kabinet needs to run.
type secrets struct {
	keyring *vault.Keyring
	audit   *auditKeys
	created []string // files created now (demo), for the warning
}

// loadSecrets reads the master keys (KABINET_MASTER_KEYS, else the key
// file) and the audit keys. In the demo, or when create is set, missing
// files are created.
func loadSecrets(cfg *config.Config, getenv func(string) string, create bool) (*secrets, error) {
	create = create || cfg.Demo
	s := &secrets{}
	var err error
	if text := getenv(vault.EnvMasterKeys); text != "" {
		if s.keyring, err = vault.LoadKeyring(text); err != nil {
			return nil, fmt.Errorf("%s: %w", vault.EnvMasterKeys, err)
		}
	} else if create {
		var made bool
		if s.keyring, made, err = vault.LoadOrCreateKeyringFile(cfg.Keys.MasterFile); err != nil {
			return nil, fmt.Errorf("master keys: %w", err)
		}
		if made {
			s.created = append(s.created, cfg.Keys.MasterFile)
		}
	} else if s.keyring, err = vault.LoadKeyringFile(cfg.Keys.MasterFile); err != nil {
		return nil, fmt.Errorf("master keys (create them with `kabinet keys init`, or set %s): %w", vault.EnvMasterKeys, err)
	}
	s.audit, err = loadAuditKeys(cfg.Keys.AuditFile)
	if errors.Is(err, os.ErrNotExist) && create {
		s.audit, err = createAuditKeys(cfg.Keys.AuditFile)
		s.created = append(s.created, cfg.Keys.AuditFile)
	}
	if err != nil {
		return nil, fmt.Errorf("audit keys (create them with `kabinet keys init`): %w", err)
	}
	return s, nil
}

func keysCommand(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || (args[0] != "init" && args[0] != "rotate") {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
			fmt.Fprintln(e.stdout, "Usage: kabinet keys init|rotate [flags]\n\n  init     create the master key file and the audit signing key file\n  rotate   rewrap every subject key under the newest master key (--new adds one first)")
			return nil
		}
		fmt.Fprintln(e.stderr, "Usage: kabinet keys init|rotate [flags]")
		return errUsage
	}
	if args[0] == "init" {
		fs := flags(e, "keys init", "keys init [flags]\n\nCreates the master key file and the audit signing key file if they do not exist.")
		cf := addConfigFlags(fs, e, false)
		if done, err := parse(e, fs, args[1:]); done {
			return err
		}
		cfg, err := cf.load(e)
		if err != nil {
			return reportConfig(e, err)
		}
		s, err := loadSecrets(cfg, e.getenv, true)
		if err != nil {
			return err
		}
		for _, f := range s.created {
			fmt.Fprintln(e.stdout, "created", f)
		}
		if len(s.created) == 0 {
			fmt.Fprintln(e.stdout, "keys exist already; nothing to do")
		}
		return nil
	}
	fs := flags(e, "keys rotate", "keys rotate [--new] [flags]\n\nRewraps every subject key under the newest master key, in small batches,\nwhile kabinet keeps serving. --new first adds a new master key version to\nthe key file (running kabinet processes pick it up by themselves).")
	cf := addConfigFlags(fs, e, false)
	addNew := fs.Bool("new", false, "add a new master key version first")
	batch := fs.Int("batch", 200, "subject keys per transaction")
	if done, err := parse(e, fs, args[1:]); done {
		return err
	}
	cfg, err := cf.load(e)
	if err != nil {
		return reportConfig(e, err)
	}
	s, err := loadSecrets(cfg, e.getenv, false)
	if err != nil {
		return err
	}
	kr := s.keyring
	if *addNew {
		if kr, err = kr.AddVersion(); err != nil {
			return fmt.Errorf("add master key version: %w", err)
		}
		fmt.Fprintln(e.stdout, "added master key version", kr.Current())
	}
	keys, err := sqldb.Open(ctx, cfg.Database.KeystoreURL)
	if err != nil {
		return fmt.Errorf("open key store: %w", err)
	}
	defer keys.Close()
	v, err := vault.Open(ctx, keys, kr, vault.Options{})
	if err != nil {
		return err
	}
	bar := newProgress(e, "rotate")
	n, err := v.Rotate(ctx, *batch, func(done, total int) { bar.update(int64(done), int64(total)) })
	bar.finish()
	if err != nil {
		return err
	}
	versions, err := v.KeyVersions(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "rewrapped %d subject keys; keys by master version: %v\n", n, versions)
	return nil
}
