package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"kabinet/internal/config"
)

// SMTPSender delivers e-mail through a relay with net/smtp: STARTTLS
// (required by default), AUTH PLAIN when a user is configured, and a
// multipart/alternative message (plain text and HTML, UTF-8, base64) with
// From, To, Subject, Date and Message-ID.
type SMTPSender struct {
	cfg      config.SMTP
	password string
	from     *mail.Address
	tls      *tls.Config
	now      func() time.Time
}

// NewSMTP returns an SMTPSender for cfg (defaults applied and validated by
// package config). The password is read with getenv from the variable
// cfg.PasswordEnv names; a missing one is an error, as is an unreadable
// CA file.
func NewSMTP(cfg config.SMTP, getenv func(string) string, now func() time.Time) (*SMTPSender, error) {
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp from: %w", err)
	}
	s := &SMTPSender{cfg: cfg, from: from, now: now, tls: &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}}
	if cfg.HELO == "" {
		s.cfg.HELO = "localhost"
	}
	if cfg.Username != "" {
		if s.password = getenv(cfg.PasswordEnv); s.password == "" {
			return nil, fmt.Errorf("smtp: the password variable %s is not set", cfg.PasswordEnv)
		}
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("smtp ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("smtp ca_file %s: no PEM certificate", cfg.CAFile)
		}
		s.tls.RootCAs = pool
	}
	return s, nil
}

// Deliver sends m to m.To and returns the Message-ID. A 5xx answer of the
// relay is permanent; network errors and 4xx answers are retried. Errors
// name the SMTP stage and reply code only: relays echo addresses in their
// reply texts.
func (s *SMTPSender) Deliver(ctx context.Context, m Outgoing) (string, error) {
	to, err := mail.ParseAddress(m.To)
	if err != nil || to.Address != m.To {
		return "", &SendError{Err: errors.New("smtp: the recipient is not a plain e-mail address"), Permanent: true}
	}
	msgID, msg, err := s.compose(m)
	if err != nil {
		return "", &SendError{Err: err, Permanent: true}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()

	addr := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", fmt.Errorf("smtp: connect: %w", err)
	}
	// net/smtp knows no context: a deadline bounds every read and write,
	// and cancellation cuts the connection short.
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if s.cfg.TLS == "implicit" {
		tc := tls.Client(conn, s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return "", fmt.Errorf("smtp: tls: %w", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		conn.Close()
		return "", smtpError("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(s.cfg.HELO); err != nil {
		return "", smtpError("hello", err)
	}
	if s.cfg.TLS == "starttls" || s.cfg.TLS == "opportunistic" {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tls); err != nil {
				return "", smtpError("starttls", err)
			}
		} else if s.cfg.TLS == "starttls" {
			return "", &SendError{Err: errors.New("smtp: the relay does not offer STARTTLS, which the configuration requires"), Permanent: true}
		}
	}
	if s.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.password, s.cfg.Host)); err != nil {
			return "", smtpError("auth", err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return "", smtpError("mail", err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return "", smtpError("rcpt", err)
	}
	w, err := c.Data()
	if err != nil {
		return "", smtpError("data", err)
	}
	if _, err := w.Write(msg); err != nil {
		return "", smtpError("data", err)
	}
	if err := w.Close(); err != nil {
		return "", smtpError("data", err)
	}
	// The relay accepted the message at the end of DATA; a failed QUIT
	// does not unsend it.
	_ = c.Quit()
	return msgID, nil
}

// smtpError classifies a relay's answer: 5xx is permanent. The reply text
// is dropped because relays echo the addresses in it.
func smtpError(stage string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		return &SendError{Err: fmt.Errorf("smtp %s: the relay answered %d", stage, te.Code), Permanent: te.Code >= 500}
	}
	if stage == "auth" {
		// net/smtp's own refusals (no TLS to a remote relay, a wrong host)
		// are configuration errors.
		return &SendError{Err: fmt.Errorf("smtp auth: %w", err), Permanent: true}
	}
	return fmt.Errorf("smtp %s: %w", stage, err)
}

// compose builds the message and returns its Message-ID.
func (s *SMTPSender) compose(m Outgoing) (string, []byte, error) {
	var rnd [16]byte
	rand.Read(rnd[:])
	domain := s.from.Address[strings.LastIndexByte(s.from.Address, '@')+1:]
	msgID := "<" + hex.EncodeToString(rnd[:]) + "@" + domain + ">"

	var buf bytes.Buffer
	header := func(name, value string) { buf.WriteString(name + ": " + value + "\r\n") }
	header("From", s.from.String()) // encodes a non-ASCII display name
	header("To", "<"+m.To+">")
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", s.now().Format(time.RFC1123Z))
	header("Message-ID", msgID)
	header("MIME-Version", "1.0")
	// RFC 3834: no auto-replies (vacation notices) to a robot.
	header("Auto-Submitted", "auto-generated")
	extra := map[string]string{}
	maps.Copy(extra, s.cfg.Headers)
	maps.Copy(extra, m.Headers)
	for _, name := range slices.Sorted(maps.Keys(extra)) {
		v := extra[name]
		if name == "" || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r > '~' || r == ':' }) || strings.ContainsAny(v, "\r\n") {
			return "", nil, fmt.Errorf("smtp: header %q is malformed", name)
		}
		header(textproto.CanonicalMIMEHeaderKey(name), mime.QEncoding.Encode("utf-8", v))
	}
	mw := multipart.NewWriter(&buf)
	header("Content-Type", `multipart/alternative; boundary="`+mw.Boundary()+`"`)
	buf.WriteString("\r\n")
	for _, part := range []struct{ kind, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		if part.body == "" {
			continue
		}
		// base64: Cyrillic text grows by a third, not threefold as in
		// quoted-printable.
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.kind + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"base64"},
		})
		if err != nil {
			return "", nil, err
		}
		enc := base64.StdEncoding.EncodeToString([]byte(part.body))
		var lines strings.Builder
		for len(enc) > 0 { // RFC 2045 §6.8: lines of at most 76 characters
			n := min(len(enc), 76)
			lines.WriteString(enc[:n] + "\r\n")
			enc = enc[n:]
		}
		if _, err := io.WriteString(pw, lines.String()); err != nil {
			return "", nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return "", nil, err
	}
	return msgID, buf.Bytes(), nil
}
