package vault

import "strings"

// Index returns the blind index of a normalised value in category under
// the keyring's index key (see Keyring.Index). Store it beside the sealed
// value and look the value up by it, without decrypting anything.
func (v *Vault) Index(category, normalizedValue string) []byte {
	return v.kr.Load().Index(category, normalizedValue)
}

// NormalizeEmail returns the form of an e-mail address to index: trimmed
// and lower-cased. Only that: dots and "+tags" are meaningful to some
// mail systems, so folding them would merge different people.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
