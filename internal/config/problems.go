package config

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with the configuration. Path is the field
// ("operator.registration.inn") or the environment variable; File and Line
// say where it was written, when it came from a file. Key and Args are a
// message for the operator, translated at the edge (package i18n).
type Problem struct {
	File string
	Line int
	Path string
	Key  string
	Args []any
}

// Where renders the location: "file:line: field" or the variable name.
func (p Problem) Where() string {
	switch {
	case p.File != "" && p.Line > 0:
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Path)
	case p.File != "":
		return p.File + ": " + p.Path
	}
	return p.Path
}

// Problems is every problem found; it is the error Validate and Load return.
type Problems []Problem

// Error renders the problems untranslated (keys and arguments), for logs
// and tests; people see them translated through package i18n.
func (ps Problems) Error() string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Where())
		b.WriteString(": ")
		b.WriteString(p.Key)
		for _, a := range p.Args {
			fmt.Fprintf(&b, " %v", a)
		}
	}
	return b.String()
}
