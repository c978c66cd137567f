package files

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"kabinet/internal/fault"
)

// S3Config names an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, Yandex
// Object Storage, …) reached with path-style URLs
// (ENDPOINT/BUCKET/PREFIXKEY) and AWS Signature Version 4.
type S3Config struct {
	// Endpoint is the service's base URL, "https://storage.example.ru" (or
	// http:// for a test server): blobs are sealed, but use TLS anyway.
	Endpoint string
	// Region is the signing region; "" means "us-east-1", which most
	// S3-compatible servers accept.
	Region string
	// Bucket must exist; kabinet does not create it.
	Bucket string
	// Prefix is prepended to every key, e.g. "kabinet/files/"; optional.
	Prefix string
	// AccessKey and SecretKey are the credentials (read the secret from
	// the environment, not the operator file).
	AccessKey, SecretKey string
}

// S3Store keeps blobs as objects in an S3-compatible bucket, signing each
// request with AWS Signature Version 4 (implemented here on the standard
// library: PUT, GET and DELETE of one object is all it needs).
type S3Store struct {
	cfg    S3Config
	base   *url.URL
	client *http.Client
	now    func() time.Time
}

// NewS3Store returns a store on the bucket cfg names. client nil means a
// client with a one-minute timeout.
func NewS3Store(cfg S3Config, client *http.Client) (*S3Store, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("files: S3 endpoint %q is not a base URL like https://host[:port]", cfg.Endpoint)
	}
	u.Path = ""
	if cfg.Bucket == "" || strings.Contains(cfg.Bucket, "/") {
		return nil, errors.New("files: S3 bucket not set or not a bucket name")
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.New("files: S3 access key or secret key not set")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if client == nil {
		client = &http.Client{Timeout: time.Minute}
	}
	return &S3Store{cfg: cfg, base: u, client: client, now: time.Now}, nil
}

// Put uploads data as the object for key.
func (s *S3Store) Put(ctx context.Context, key string, data []byte) error {
	resp, err := s.do(ctx, http.MethodPut, key, data)
	if err != nil {
		return err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return s3Error("put", key, resp)
	}
	return nil
}

// Get downloads the object for key; a missing one is fault.NotFound.
func (s *S3Store) Get(ctx context.Context, key string) ([]byte, error) {
	resp, err := s.do(ctx, http.MethodGet, key, nil)
	if err != nil {
		return nil, err
	}
	defer drain(resp)
	if resp.StatusCode == http.StatusNotFound {
		return nil, fault.Wrap(fault.NotFound, s3Error("get", key, resp), "files.not_found")
	}
	if resp.StatusCode != http.StatusOK {
		return nil, s3Error("get", key, resp)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("files: S3 get %s: %w", key, err)
	}
	return b, nil
}

// Delete deletes the object for key; S3 answers 204 whether or not it
// existed, and a 404 is taken as done too.
func (s *S3Store) Delete(ctx context.Context, key string) error {
	resp, err := s.do(ctx, http.MethodDelete, key, nil)
	if err != nil {
		return err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
		return s3Error("delete", key, resp)
	}
	return nil
}

func (s *S3Store) do(ctx context.Context, method, key string, body []byte) (*http.Response, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	u := *s.base
	u.Path = "/" + s.cfg.Bucket + "/" + s.cfg.Prefix + key
	u.RawPath = "/" + uriEncode(s.cfg.Bucket, false) + "/" + uriEncode(s.cfg.Prefix+key, true)
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("files: S3 %s %s: %w", method, key, err)
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	if method == http.MethodPut {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", payload)
	// Content-Type is left out of the signature: only what AWS requires
	// (host, x-amz-*) is signed, which every implementation agrees on.
	signV4(req, s.cfg.AccessKey, s.cfg.SecretKey, s.cfg.Region, payload, s.now(), "content-type")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("files: S3 %s %s: %w", method, key, err)
	}
	return resp, nil
}

// drain reads a little of what is left so the connection can be reused.
func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// s3Error describes a failed response by its status and S3 error code
// (the body's <Code>), which hold no personal data: keys are random ids.
func s3Error(op, key string, resp *http.Response) error {
	var e struct {
		Code string `xml:"Code"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	xml.Unmarshal(b, &e)
	if e.Code == "" {
		e.Code = "no error code"
	}
	return fmt.Errorf("files: S3 %s %s: %s (%s)", op, key, resp.Status, e.Code)
}

// signV4 signs req with AWS Signature Version 4 for service s3: it sets
// X-Amz-Date and Authorization. The signed headers are Host and every
// header already on req but those named in unsigned (lower case);
// payload is the hex SHA-256 of the body (also in X-Amz-Content-Sha256).
// req.URL.RawPath, when set, must be the URI-encoded path (as S3 wants
// it: each segment encoded once).
func signV4(req *http.Request, accessKey, secretKey, region, payload string, t time.Time, unsigned ...string) {
	t = t.UTC()
	amzDate := t.Format("20060102T150405Z")
	day := amzDate[:8]
	req.Header.Set("X-Amz-Date", amzDate)

	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	headers := map[string]string{"host": host}
	for name, values := range req.Header {
		lower := strings.ToLower(name)
		if slices.Contains(unsigned, lower) || lower == "authorization" {
			continue
		}
		trimmed := make([]string, len(values))
		for i, v := range values {
			trimmed[i] = strings.Join(strings.Fields(v), " ")
		}
		headers[lower] = strings.Join(trimmed, ",")
	}
	names := make([]string, 0, len(headers))
	for n := range headers {
		names = append(names, n)
	}
	slices.Sort(names)
	var canonHeaders strings.Builder
	for _, n := range names {
		canonHeaders.WriteString(n + ":" + headers[n] + "\n")
	}
	signed := strings.Join(names, ";")

	path := req.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	canonical := strings.Join([]string{req.Method, path, canonicalQuery(req.URL.Query()), canonHeaders.String(), signed, payload}, "\n")
	scope := day + "/" + region + "/s3/aws4_request"
	hash := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(hash[:])

	key := hmacSHA256([]byte("AWS4"+secretKey), day)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, "s3")
	key = hmacSHA256(key, "aws4_request")
	sig := hex.EncodeToString(hmacSHA256(key, toSign))
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+accessKey+"/"+scope+",SignedHeaders="+signed+",Signature="+sig)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// canonicalQuery encodes query parameters sorted by encoded name, then
// value.
func canonicalQuery(q url.Values) string {
	type pair struct{ k, v string }
	var pairs []pair
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, pair{uriEncode(k, false), uriEncode(v, false)})
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p.k + "=" + p.v
	}
	return strings.Join(parts, "&")
}

// uriEncode percent-encodes every byte but the unreserved characters
// (A–Z a–z 0–9 - . _ ~), and "/" too unless keepSlash, as SigV4 requires.
func uriEncode(s string, keepSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		case c == '/' && keepSlash:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
