package federation

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// ClientSecretSigner signs the messages by which a client authenticates to
// a provider that wants a signature instead of a shared secret — ESIA,
// whose client_secret is a detached CMS (PKCS#7) signature made with the
// operator's certified GOST R 34.10-2012 key. Sign returns the signature
// in DER; kabinet sends it base64url-encoded. message carries no personal
// data (scope, timestamp, client id and a random state).
type ClientSecretSigner interface {
	Sign(ctx context.Context, message []byte) (signature []byte, err error)
}

// esiaTimestampLayout is ESIA's "yyyy.MM.dd HH:mm:ss Z".
const esiaTimestampLayout = "2006.01.02 15:04:05 -0700"

// esiaTimestamp formats t as ESIA wants it in the timestamp parameter.
func esiaTimestamp(t time.Time) string { return t.Format(esiaTimestampLayout) }

// esiaMessage is what ESIA's client_secret signs: the values of the
// request's scope, timestamp, client_id and state, concatenated in that
// order without separators, as UTF-8.
func esiaMessage(scope, timestamp, clientID, state string) []byte {
	return []byte(scope + timestamp + clientID + state)
}

// esiaClientSecret signs the message for one request and returns the
// client_secret parameter's value.
func esiaClientSecret(ctx context.Context, s ClientSecretSigner, scope, timestamp, clientID, state string) (string, error) {
	sig, err := s.Sign(ctx, esiaMessage(scope, timestamp, clientID, state))
	if err != nil {
		return "", fmt.Errorf("sign client_secret: %w", err)
	}
	if len(sig) == 0 {
		return "", errors.New("sign client_secret: the signer returned nothing")
	}
	return base64.RawURLEncoding.EncodeToString(sig), nil
}

// CommandSigner is a ClientSecretSigner that runs an external program:
// the message goes to its standard input and the DER signature is read
// from its standard output. It is how an operator plugs in certified
// crypto kabinet does not ship (see the package documentation), e.g.
//
//	CommandSigner{Path: "/usr/bin/openssl", Args: []string{"cms", "-sign", "-binary",
//	    "-engine", "gost", "-signer", "/etc/kabinet/esia.crt", "-inkey", "/etc/kabinet/esia.key",
//	    "-outform", "DER", "-nosmimecap", "-noattr"}}
//
// The program must exit with status 0; otherwise its standard error (cut
// to 1 KiB) is in the returned error.
type CommandSigner struct {
	Path string
	Args []string
}

// maxSignature bounds what is read from the program: a CMS signature with
// its certificate is a few kilobytes.
const maxSignature = 1 << 20

// Sign runs the program once; ctx bounds how long it may take.
func (s CommandSigner) Sign(ctx context.Context, message []byte) ([]byte, error) {
	cmd := exec.CommandContext(ctx, s.Path, s.Args...)
	cmd.Stdin = bytes.NewReader(message)
	var out, stderr limitedBuffer
	out.max, stderr.max = maxSignature, 1024
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, fmt.Errorf("signer %s: %s: %w", s.Path, msg, err)
		}
		return nil, fmt.Errorf("signer %s: %w", s.Path, err)
	}
	if out.overflow {
		return nil, fmt.Errorf("signer %s: more than %d bytes of output", s.Path, maxSignature)
	}
	if out.Len() == 0 {
		return nil, fmt.Errorf("signer %s: no signature on standard output", s.Path)
	}
	return out.Bytes(), nil
}

// limitedBuffer keeps at most max bytes and notes whether more came.
type limitedBuffer struct {
	bytes.Buffer
	max      int
	overflow bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.overflow = true
		b.Buffer.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

var _ io.Writer = (*limitedBuffer)(nil)
