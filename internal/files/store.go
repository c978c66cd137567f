package files

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"kabinet/internal/fault"
)

// Store keeps sealed blobs by key. Keys are file ids ("f" and base32
// letters). Implementations: DirStore (local disk), S3Store.
type Store interface {
	// Put stores data under key durably, replacing any blob there.
	Put(ctx context.Context, key string, data []byte) error
	// Get returns the blob under key; a missing one is fault.NotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Delete removes the blob under key; a missing one is not an error.
	Delete(ctx context.Context, key string) error
}

// checkKey keeps keys to the shape the service makes, so that no key can
// name a path outside a DirStore or an unexpected object.
func checkKey(key string) error {
	if len(key) < 3 || len(key) > 64 {
		return fmt.Errorf("files: bad blob key %q", key)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return fmt.Errorf("files: bad blob key %q", key)
		}
	}
	return nil
}

// DirStore keeps blobs as files 0600 in a directory tree (dir/xy/key, xy
// the key's 2nd and 3rd letters, so no directory grows huge). Writes are
// atomic and durable: a temporary file, fsync, rename, fsync of the
// directory.
type DirStore struct {
	dir string
}

// NewDirStore returns a DirStore on dir, creating it (0700) if needed.
func NewDirStore(dir string) (*DirStore, error) {
	if dir == "" {
		return nil, errors.New("files: storage directory not set")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("files: storage directory: %w", err)
	}
	return &DirStore{dir: dir}, nil
}

func (d *DirStore) path(key string) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	return filepath.Join(d.dir, key[1:3], key), nil
}

// Put writes data under key atomically and durably.
func (d *DirStore) Put(_ context.Context, key string, data []byte) (err error) {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	sub := filepath.Dir(p)
	if err := os.MkdirAll(sub, 0o700); err != nil {
		return fmt.Errorf("files: put %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(sub, ".tmp-*") // 0600
	if err != nil {
		return fmt.Errorf("files: put %s: %w", key, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("files: put %s: %w", key, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("files: put %s: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("files: put %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("files: put %s: %w", key, err)
	}
	// The rename is durable only once the directory is.
	return syncDir(sub)
}

// Get reads the blob under key.
func (d *DirStore) Get(_ context.Context, key string) ([]byte, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fault.Wrap(fault.NotFound, fmt.Errorf("files: blob %s: %w", key, err), "files.not_found")
	}
	if err != nil {
		return nil, fmt.Errorf("files: get %s: %w", key, err)
	}
	return b, nil
}

// Delete removes the blob under key, durably.
func (d *DirStore) Delete(_ context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("files: delete %s: %w", key, err)
	}
	return syncDir(filepath.Dir(p))
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("files: sync %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("files: sync %s: %w", dir, err)
	}
	return nil
}
