package config

import (
	"path/filepath"
	"slices"
)

// Uploads configures the documents a person uploads in the cabinet
// (package files; seed 001 §1.6, §4.1–4.2). Without a purpose the cabinet
// offers no uploads.
type Uploads struct {
	// Purpose and Category are the register's purpose the documents are
	// kept for and the category they are stored as.
	Purpose  string `yaml:"purpose"`
	Category string `yaml:"category"`
	// MaxSizeMB bounds a file (default 10).
	MaxSizeMB int `yaml:"max_size_mb"`
	// Types are the media types accepted, detected from the content
	// (default application/pdf, image/jpeg, image/png).
	Types []string `yaml:"types"`
	// Clamd is the virus scanner: "unix:/run/clamav/clamd.ctl" or
	// "tcp:127.0.0.1:3310"; empty: no scanning.
	Clamd string `yaml:"clamd"`
	// Dir keeps the sealed files on local disk (default DATA_DIR/files),
	// unless S3 names an S3-compatible object storage.
	Dir string   `yaml:"dir"`
	S3  S3Config `yaml:"s3"`
	// RetentionDays is how long a file is kept; default: the purpose's
	// retention term.
	RetentionDays int `yaml:"retention_days"`
}

// S3Config names an S3-compatible bucket; the secret key comes from the
// environment variable SecretEnv, never from the file.
type S3Config struct {
	Endpoint  string `yaml:"endpoint"`
	Region    string `yaml:"region"`
	Bucket    string `yaml:"bucket"`
	Prefix    string `yaml:"prefix"`
	AccessKey string `yaml:"access_key"`
	SecretEnv string `yaml:"secret_env"`
}

// Enabled reports whether the cabinet offers uploads.
func (u *Uploads) Enabled() bool { return u.Purpose != "" }

func (u *Uploads) defaults(c *Config) {
	if !u.Enabled() {
		return
	}
	if u.MaxSizeMB == 0 {
		u.MaxSizeMB = 10
	}
	if u.Dir == "" {
		u.Dir = filepath.Join(c.DataDir, "files")
	}
	if u.RetentionDays == 0 {
		if p := c.Register.Purpose(u.Purpose); p != nil && !p.Retention.Term.IsZero() {
			days := p.Retention.Term.N
			switch p.Retention.Term.Unit {
			case 'm':
				days *= 31
			case 'y':
				days *= 366
			}
			u.RetentionDays = days
		}
	}
}

func (u *Uploads) validate(c *Config, add func(path, key string, args ...any)) {
	if !u.Enabled() {
		return
	}
	const base = "uploads."
	p := c.Register.Purpose(u.Purpose)
	switch {
	case p == nil:
		add(base+"purpose", "config.uploads_purpose_unknown", "purpose", u.Purpose)
	case c.Register.Category(u.Category) == nil || len(p.Covers(u.Category)) > 0:
		add(base+"category", "config.uploads_category", "category", u.Category, "purpose", u.Purpose)
	}
	if u.MaxSizeMB < 1 || u.MaxSizeMB > 100 {
		add(base+"max_size_mb", "config.range", "min", 1, "max", 100)
	}
	if u.RetentionDays < 1 {
		add(base+"retention_days", "config.uploads_retention")
	}
	for _, t := range u.Types {
		if !slices.Contains([]string{"application/pdf", "image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp"}, t) {
			add(base+"types", "config.one_of", "values", "application/pdf, image/jpeg, image/png, image/gif, image/webp, image/bmp")
			break
		}
	}
	if u.S3.Endpoint != "" && (u.S3.Bucket == "" || u.S3.AccessKey == "" || u.S3.SecretEnv == "") {
		add(base+"s3", "config.uploads_s3")
	}
}
