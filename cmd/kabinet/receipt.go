package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"kabinet/internal/fault"
	"kabinet/internal/receipts"
)

func receiptCommand(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
			fmt.Fprintln(e.stdout, "Usage: kabinet receipt verify [flags] FILE\n\n  verify   check a consent receipt's signature and say what it proves")
			return nil
		}
		fmt.Fprintln(e.stderr, "Usage: kabinet receipt verify [flags] FILE")
		return errUsage
	}
	return receiptVerify(ctx, e, args[1:])
}

func receiptVerify(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "receipt verify", "receipt verify [--jwks FILE|URL] [flags] FILE\n\n"+
		"Checks the signature of a consent receipt (the .jws file from the personal\n"+
		"cabinet; - reads standard input) against the operator's receipt keys\n"+
		"(DATA_DIR/"+receipts.KeyFileName+") or against a published key set given with --jwks.\n"+
		"Prints what the receipt proves and exits 0, or why it is not valid and exits 1.")
	cf := addConfigFlags(fs, e, false)
	jwks := fs.String("jwks", "", "verify against this key set: a JSON `file`, or an http(s) URL such as https://portal.example/.well-known/jwks.json")
	if done, err := parse(e, fs, args); done {
		return err
	}
	// Flags may also follow the file.
	var file string
	if rest := fs.Args(); len(rest) > 0 {
		file = rest[0]
		if done, err := parse(e, fs, rest[1:]); done {
			return err
		}
		if fs.NArg() != 0 {
			file = ""
		}
	}
	if file == "" {
		fs.Usage()
		return errUsage
	}
	data, err := readReceipt(e, file)
	if err != nil {
		return err
	}
	keys, err := receiptKeys(ctx, e, cf, *jwks)
	if err != nil {
		return err
	}
	r, err := receipts.Verify(string(data), keys)
	var bad *receipts.VerifyError
	if errors.As(err, &bad) {
		key, args := fault.Message(err)
		fmt.Fprintf(e.stdout, "invalid: %s\n", cliLocalizer(e).T(key, args...))
		return errInvalid
	}
	if err != nil {
		return err
	}
	purpose := "?"
	if len(r.ISO.Purposes) > 0 {
		purpose = r.ISO.Purposes[0].ID
	}
	fmt.Fprintf(e.stdout, "valid: consent receipt %s for purpose %s, given %s\n",
		r.ConsentReceiptID, purpose, time.Unix(r.ConsentTimestamp, 0).UTC().Format(time.RFC3339))
	return nil
}

// readReceipt reads the JWS file, or standard input for "-", refusing
// anything larger than a receipt can be.
func readReceipt(e *env, name string) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		if e.stdin == nil {
			return nil, errors.New("no standard input")
		}
		r = e.stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, receipts.MaxJWS+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return data, nil
}

// receiptKeys is the key set to verify against: the published one named
// by --jwks, else the public half of the operator's key file (which is
// never created here: a verifier must not mint keys).
func receiptKeys(ctx context.Context, e *env, cf configFlags, jwks string) (receipts.JWKS, error) {
	if jwks == "" {
		cfg, err := cf.load(e)
		if err != nil {
			return receipts.JWKS{}, reportConfig(e, err)
		}
		s, err := receipts.LoadKeyFile(filepath.Join(cfg.DataDir, receipts.KeyFileName))
		if err != nil {
			return receipts.JWKS{}, fmt.Errorf("receipt keys (or give the operator's published keys with --jwks): %w", err)
		}
		return s.JWKS(), nil
	}
	var data []byte
	if strings.HasPrefix(jwks, "https://") || strings.HasPrefix(jwks, "http://") {
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, jwks, nil)
		if err != nil {
			return receipts.JWKS{}, fmt.Errorf("--jwks: %w", err)
		}
		req.Header.Set("Accept", "application/jwk-set+json, application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return receipts.JWKS{}, fmt.Errorf("--jwks: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return receipts.JWKS{}, fmt.Errorf("--jwks: %s answered %s", jwks, resp.Status)
		}
		if data, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20)); err != nil {
			return receipts.JWKS{}, fmt.Errorf("--jwks: %w", err)
		}
	} else {
		var err error
		if data, err = os.ReadFile(jwks); err != nil {
			return receipts.JWKS{}, fmt.Errorf("--jwks: %w", err)
		}
	}
	set, err := receipts.ParseJWKS(data)
	if err != nil {
		return receipts.JWKS{}, fmt.Errorf("--jwks %s: %w", jwks, err)
	}
	return set, nil
}
