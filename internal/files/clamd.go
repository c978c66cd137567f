package files

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// Scanner scans content for malware.
type Scanner interface {
	// Scan reads r to its end and reports whether it is infected. An
	// error means the content was not scanned: the caller must fail
	// closed.
	Scan(ctx context.Context, r io.Reader) (Result, error)
}

// Result is a scan's verdict.
type Result struct {
	Infected  bool
	Signature string // the matching signature's name when Infected
}

// Clamd scans through a running clamd (ClamAV's daemon) with the INSTREAM
// command. Address is "unix:/path/to/clamd.ctl" or "tcp:127.0.0.1:3310".
// clamd's StreamMaxLength must be at least Config.MaxSize, or large
// uploads fail to scan (and are refused).
type Clamd struct {
	Address string
	// Timeout bounds one command when ctx has no earlier deadline; zero
	// means one minute.
	Timeout time.Duration
}

// chunkSize is the INSTREAM chunk size; clamd reads chunks of any size up
// to StreamMaxLength.
const chunkSize = 64 << 10

func (c *Clamd) network() (network, address string, err error) {
	switch {
	case strings.HasPrefix(c.Address, "unix:") && len(c.Address) > len("unix:"):
		return "unix", strings.TrimPrefix(c.Address, "unix:"), nil
	case strings.HasPrefix(c.Address, "tcp:"):
		addr := strings.TrimPrefix(c.Address, "tcp:")
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return "", "", fmt.Errorf("files: clamd address %q: %w", c.Address, err)
		}
		return "tcp", addr, nil
	}
	return "", "", fmt.Errorf(`files: clamd address %q is neither "unix:/path" nor "tcp:host:port"`, c.Address)
}

// dial connects to clamd with the command's deadline set on the
// connection and tied to ctx.
func (c *Clamd) dial(ctx context.Context) (net.Conn, func(), error) {
	network, address, err := c.network()
	if err != nil {
		return nil, nil, err
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("files: clamd: %w", err)
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	// A cancelled ctx unblocks reads and writes at once.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	return conn, func() { stop(); cancel(); conn.Close() }, nil
}

// Ping checks that clamd answers (PING → PONG): a readiness check.
func (c *Clamd) Ping(ctx context.Context) error {
	conn, done, err := c.dial(ctx)
	if err != nil {
		return err
	}
	defer done()
	if _, err := conn.Write([]byte("zPING\x00")); err != nil {
		return fmt.Errorf("files: clamd ping: %w", err)
	}
	reply, err := readReply(conn)
	if err != nil {
		return fmt.Errorf("files: clamd ping: %w", err)
	}
	if reply != "PONG" {
		return fmt.Errorf("files: clamd ping: unexpected reply %q", reply)
	}
	return nil
}

// Scan streams r to clamd (INSTREAM: chunks each preceded by its length as
// a 4-byte big-endian integer, then a zero length) and parses the verdict:
// "stream: OK" or "stream: NAME FOUND". Anything else — clamd unreachable,
// "... ERROR" (say, the stream exceeds StreamMaxLength) — is an error.
func (c *Clamd) Scan(ctx context.Context, r io.Reader) (Result, error) {
	conn, done, err := c.dial(ctx)
	if err != nil {
		return Result{}, err
	}
	defer done()
	w := bufio.NewWriterSize(conn, chunkSize+4)
	werr := func() error {
		if _, err := w.WriteString("zINSTREAM\x00"); err != nil {
			return err
		}
		buf := make([]byte, chunkSize)
		var size [4]byte
		for {
			n, rerr := io.ReadFull(r, buf)
			if n > 0 {
				binary.BigEndian.PutUint32(size[:], uint32(n))
				if _, err := w.Write(size[:]); err != nil {
					return err
				}
				if _, err := w.Write(buf[:n]); err != nil {
					return err
				}
			}
			if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
				break
			}
			if rerr != nil {
				return fmt.Errorf("read content: %w", rerr)
			}
		}
		binary.BigEndian.PutUint32(size[:], 0)
		if _, err := w.Write(size[:]); err != nil {
			return err
		}
		return w.Flush()
	}()
	// clamd may answer early and hang up (a size limit): its reply says
	// more than the write error.
	reply, rerr := readReply(conn)
	if rerr != nil {
		if werr != nil {
			return Result{}, fmt.Errorf("files: clamd scan: %w", werr)
		}
		return Result{}, fmt.Errorf("files: clamd scan: %w", rerr)
	}
	switch {
	case reply == "stream: OK":
		if werr != nil {
			return Result{}, fmt.Errorf("files: clamd scan: %w", werr)
		}
		return Result{}, nil
	case strings.HasPrefix(reply, "stream: ") && strings.HasSuffix(reply, " FOUND"):
		sig := strings.TrimSuffix(strings.TrimPrefix(reply, "stream: "), " FOUND")
		return Result{Infected: true, Signature: sig}, nil
	default:
		return Result{}, fmt.Errorf("files: clamd scan: %q", reply)
	}
}

// readReply reads one NUL-terminated reply (the z-prefixed commands'
// framing); a reply cut by EOF is taken as it is.
func readReply(conn net.Conn) (string, error) {
	var b []byte
	buf := make([]byte, 512)
	for len(b) < 4096 {
		n, err := conn.Read(buf)
		b = append(b, buf[:n]...)
		if i := bytes.IndexByte(b, 0); i >= 0 {
			return strings.TrimSpace(string(b[:i])), nil
		}
		if errors.Is(err, io.EOF) && len(b) > 0 {
			break
		}
		if err != nil {
			return "", err
		}
	}
	return strings.TrimSpace(string(b)), nil
}
