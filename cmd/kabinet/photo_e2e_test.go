package main

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProfilePhoto: an operator that declares a picture category gets a
// photo field in "Личные данные": a PNG is kept (sealed) and shown back to
// its owner only; a file that is not a picture is refused with a message.
func TestProfilePhoto(t *testing.T) {
	demo, err := os.ReadFile("../../examples/000_regional_services.yaml")
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Replace(string(demo), "\n  categories:\n",
		"\n  categories:\n    - id: profile.photo             # test: an operator with a profile photo\n      kind: ordinary\n      format: image\n      title: {ru: \"Фотография профиля\", en: \"Profile photo\"}\n", 1)
	i := strings.Index(body, "    - id: portal")
	j := strings.Index(body[i:], "categories: [") + i + len("categories: [")
	body = body[:j] + "profile.photo, " + body[j:]
	body = strings.Replace(body, "  informing_purpose: informing\n", "  informing_purpose: informing\n  allow_console: true\n  email: {sender: console}\n", 1)
	if body == string(demo) || !strings.Contains(body, "profile.photo,") || !strings.Contains(body, "allow_console") {
		t.Fatal("could not add the photo category to the demo operator")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "operator.yaml")
	os.WriteFile(file, []byte(body), 0o600)
	data := filepath.Join(dir, "data")
	if _, errOut, err := runCmd(t, data, "keys", "init", "--config", file); err != nil {
		t.Fatalf("keys init: %v %s", err, errOut)
	}
	s := startServe(t, "--config", file, "--data-dir", data)
	a := newPerson(t, s, "alla@example.ru", "a***@example.ru", "Alla-Strong-Pass-1")
	b := newPerson(t, s, "boris@example.ru", "b***@example.ru", "Boris-Strong-Pass-2")

	upload := func(p *person, name string, content []byte) (int, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormFile("v.profile.photo", name)
		fw.Write(content)
		mw.Close()
		req, _ := http.NewRequest("POST", s.url+"/cabinet/data", &buf)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		resp, err := p.web.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{7}, 64)...)
	if st, page := upload(a, "me.png", png); st != 200 || !strings.Contains(page, `/cabinet/data/image/profile.photo`) {
		t.Fatalf("upload: %d, the page does not show the photo", st)
	}
	st, got := a.get(t, s, "/cabinet/data/image/profile.photo")
	if st != 200 || got != string(png) {
		t.Errorf("A's photo: %d, %d bytes", st, len(got))
	}
	if st, _ := b.get(t, s, "/cabinet/data/image/profile.photo"); st != http.StatusNotFound {
		t.Errorf("B asks for a photo: %d, want 404 (B has none; A's is not B's)", st)
	}
	if _, page := upload(a, "virus.png", []byte("MZ this is not a picture")); !strings.Contains(page, "JPEG или PNG") {
		t.Error("a file that is not a picture was not refused")
	}
	if _, got := a.get(t, s, "/cabinet/data/image/profile.photo"); got != string(png) {
		t.Error("the refused upload replaced the photo")
	}
}
