package files

import (
	"maps"
	"net/http"
	"slices"
	"testing"
	"time"
)

// signV4 reproduces the worked example of AWS's documentation
// ("Signature Calculations for the Authorization Header", GET Object):
// the canonical request, the string to sign and the signature are fixed
// there.
func TestSignV4MatchesAWSExample(t *testing.T) {
	req, err := http.NewRequest(http.MethodGet, "https://examplebucket.s3.amazonaws.com/test.txt", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Range", "bytes=0-9")
	const empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	req.Header.Set("X-Amz-Content-Sha256", empty)
	signV4(req, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1", empty, time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC))
	want := "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
		"SignedHeaders=host;range;x-amz-content-sha256;x-amz-date," +
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
	if got := req.Header.Get("Authorization"); got != want {
		t.Errorf("Authorization\n got %s\nwant %s", got, want)
	}
	if got := req.Header.Get("X-Amz-Date"); got != "20130524T000000Z" {
		t.Errorf("X-Amz-Date %s", got)
	}
}

func TestURIEncode(t *testing.T) {
	for in, want := range map[string]string{
		"docs/fabc":  "docs/fabc",
		"a b+c~d_e.": "a%20b%2Bc~d_e.",
		"я":          "%D1%8F",
	} {
		if got := uriEncode(in, true); got != want {
			t.Errorf("uriEncode(%q) = %q, want %q", in, got, want)
		}
	}
	if got := uriEncode("a/b", false); got != "a%2Fb" {
		t.Errorf("slash not kept: %q", got)
	}
}

func TestSniff(t *testing.T) {
	for in, want := range map[string]string{
		"%PDF-1.7\nbody\n%%EOF\n":              "application/pdf",
		"%PDF-2.0\n%%EOF":                      "application/pdf",
		"%PDF-1.4\nno end marker":              "application/octet-stream",
		"%PDF-9.9\n%%EOF":                      "application/octet-stream",
		"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR":  "image/png",
		"\xff\xd8\xff\xe0\x00\x10JFIF\x00":     "image/jpeg",
		"GIF89a\x01\x00":                       "image/gif",
		"plain text":                           "text/plain",
		"<!DOCTYPE html><html></html>":         "text/html",
		"PK\x03\x04\x14\x00\x00\x00\x08\x00xx": "application/zip",
	} {
		if got := sniff([]byte(in)); got != want {
			t.Errorf("sniff(%q) = %q, want %q", in, got, want)
		}
	}
}

// Every type the configuration may allow has a name for messages and
// is one DetectContentType can report.
func TestKnownTypesComplete(t *testing.T) {
	if got, want := slices.Sorted(maps.Keys(typeNames)), KnownTypes(); !slices.Equal(got, want) {
		t.Errorf("names for %v, known %v", got, want)
	}
	for _, ct := range DefaultAllowedTypes {
		if _, ok := knownTypes[ct]; !ok {
			t.Errorf("default type %s is not known", ct)
		}
	}
}

func TestMegabytes(t *testing.T) {
	for n, want := range map[int64]string{10 << 20: "10", 1 << 19: "0.5", 64 << 10: "0.06", 15 << 20 / 10: "1.5"} {
		if got := megabytes(n); got != want {
			t.Errorf("megabytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"scan.pdf":                    "scan.pdf",
		`C:\Documents\Паспорт 1.jpg`:  "Паспорт 1.jpg",
		"/home/me/ photo.png ":        "photo.png",
		"../../etc/passwd.pdf":        "passwd.pdf",
		"Справка (копия) №2 — ok.PDF": "Справка (копия) №2 — ok.PDF",
	} {
		if got, err := cleanName(in); err != nil || got != want {
			t.Errorf("cleanName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", " ", "a/", "..", "tab\tname.pdf", "bad\xffutf8.pdf"} {
		if got, err := cleanName(in); err == nil {
			t.Errorf("cleanName(%q) = %q, accepted", in, got)
		}
	}
}

func TestAccept(t *testing.T) {
	s := &Service{cfg: Config{AllowedTypes: DefaultAllowedTypes}}
	if got, want := s.Accept(), ".pdf,application/pdf,.jpg,.jpeg,image/jpeg,.png,image/png"; got != want {
		t.Errorf("Accept() = %q, want %q", got, want)
	}
}
