package documents

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"strings"
)

// A document is built as a small tree of sections and blocks, then written
// twice from the same tree: as HTML (html/template, so every value from the
// operator file is escaped) and as plain text. One tree for both keeps the
// two forms saying the same thing.

// model is one rendered document.
type model struct {
	Lang     string
	Title    string
	Label    string
	Lead     []block // before the first section
	TOC      string  // heading of the table of contents; "" for none
	Sections []section
}

// section is a numbered part of a document.
type section struct {
	Anchor string // id attribute, unique in the document
	Num    string // "2", "2.1"
	Title  string
	Blocks []block
	Subs   []section
}

// block is one paragraph, list, definition list or table; exactly one of
// its fields is set.
type block struct {
	P     []span
	UL    [][]span
	DL    []field
	Table *table
}

// span is a run of inline text.
type span struct {
	Text string
	Href string // a link when set
	Slot bool   // a place the subject's own details go when the form is filled in
}

// field is one entry of a definition list; a value may have several lines.
type field struct {
	Term  string
	Value [][]span
}

// table is a data table with a caption and column headings.
type table struct {
	Caption string
	Head    []string
	Rows    [][][]span
}

func txt(s string) []span { return []span{{Text: s}} }

func para(spans ...span) block { return block{P: spans} }

func paraText(s string) block { return block{P: txt(s)} }

//go:embed document.html
var templateFS embed.FS

// docTemplate is parsed once; a parsed html/template is safe for
// concurrent use and is never modified after this.
var docTemplate = template.Must(template.New("document.html").ParseFS(templateFS, "document.html"))

// html writes m with the document template.
func (m *model) html() (template.HTML, error) {
	var b bytes.Buffer
	if err := docTemplate.Execute(&b, m); err != nil {
		return "", fmt.Errorf("documents: execute template: %w", err)
	}
	// The buffer is html/template's output, in which every value is escaped.
	return template.HTML(b.String()), nil //nolint:gosec
}

// text writes m as plain text: numbered headings, paragraphs, "—" list
// items, "term: value" fields and table rows as "heading: value" lines.
// Slots are shown in square brackets, links as "text (address)".
func (m *model) text() string {
	var b strings.Builder
	b.WriteString(m.Title)
	b.WriteString("\n")
	if m.Label != "" {
		b.WriteString(m.Label)
		b.WriteString("\n")
	}
	writeBlocks(&b, m.Lead)
	for _, s := range m.Sections {
		writeSection(&b, s)
	}
	return b.String()
}

func writeSection(b *strings.Builder, s section) {
	b.WriteString("\n")
	if s.Num != "" {
		b.WriteString(s.Num)
		b.WriteString(". ")
	}
	b.WriteString(s.Title)
	b.WriteString("\n")
	writeBlocks(b, s.Blocks)
	for _, sub := range s.Subs {
		writeSection(b, sub)
	}
}

func writeBlocks(b *strings.Builder, blocks []block) {
	for _, bl := range blocks {
		b.WriteString("\n")
		switch {
		case bl.P != nil:
			writeSpans(b, bl.P)
			b.WriteString("\n")
		case bl.UL != nil:
			for _, it := range bl.UL {
				b.WriteString("— ")
				writeSpans(b, it)
				b.WriteString("\n")
			}
		case bl.DL != nil:
			for _, f := range bl.DL {
				b.WriteString(f.Term)
				b.WriteString(":")
				for i, v := range f.Value {
					if i == 0 {
						b.WriteString(" ")
					} else {
						b.WriteString("\n  ")
					}
					writeSpans(b, v)
				}
				b.WriteString("\n")
			}
		case bl.Table != nil:
			t := bl.Table
			b.WriteString(t.Caption)
			b.WriteString("\n")
			for _, row := range t.Rows {
				for i, cell := range row {
					if i == 0 {
						b.WriteString("— ")
					} else {
						b.WriteString("  ")
					}
					if i > 0 && i < len(t.Head) {
						b.WriteString(t.Head[i])
						b.WriteString(": ")
					}
					writeSpans(b, cell)
					b.WriteString("\n")
				}
			}
		}
	}
}

func writeSpans(b *strings.Builder, spans []span) {
	for _, s := range spans {
		switch {
		case s.Slot:
			b.WriteString("[")
			b.WriteString(s.Text)
			b.WriteString("]")
		case s.Href != "" && s.Href != s.Text && "mailto:"+s.Text != s.Href:
			b.WriteString(s.Text)
			b.WriteString(" (")
			b.WriteString(s.Href)
			b.WriteString(")")
		default:
			b.WriteString(s.Text)
		}
	}
}
