package i18n

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// Text is a string in several languages. In the file it is either a plain
// string (the same in every language) or a map from language to string.
type Text map[string]string

// In returns the text in lang, else in fallback, else the plain string,
// else any language at all — an operator's name is better shown in the
// wrong language than not at all.
func (t Text) In(lang, fallback string) string {
	for _, k := range []string{lang, fallback, ""} {
		if s, ok := t[k]; ok && s != "" {
			return s
		}
	}
	for _, s := range t {
		if s != "" {
			return s
		}
	}
	return ""
}

// Empty reports whether no language has a non-empty text.
func (t Text) Empty() bool { return t.In("", "") == "" }

// UnmarshalYAML accepts a scalar or a language map.
func (t *Text) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*t = Text{"": n.Value}
		return nil
	case yaml.MappingNode:
		m := map[string]string{}
		if err := n.Decode(&m); err != nil {
			return err
		}
		*t = m
		return nil
	}
	return fmt.Errorf("line %d: want a text or a map of language to text", n.Line)
}
