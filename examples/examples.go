// Package examples holds one operator file per source document of kabinet
// (see docs and /work/shared/seeds): a regional state-services portal
// (000), a national e-services portal with single sign-on in Kyrgyzstan
// (001), a language school (002), an ed-tech group with child profiles
// (003) and a Kazakh legal-help platform (004). Each expresses its
// operator's published policy as a processing register, citing the clause
// next to every purpose, category, retention rule and recipient, and each
// is tested to load and validate. The operators and their registration
// numbers are fictional; the numbers carry valid check digits.
//
// The first is also kabinet's built-in demo operator (see package config).
package examples

import "embed"

// Files are the operator files, by their base names ("000_regional_services.yaml").
//
//go:embed *.yaml
var Files embed.FS

// DemoName is the file of the built-in demo operator.
const DemoName = "000_regional_services.yaml"

// Demo returns the built-in demo operator's file.
func Demo() []byte {
	b, err := Files.ReadFile(DemoName)
	if err != nil {
		// The file is embedded at build time; its absence is a build defect.
		panic("examples: " + err.Error())
	}
	return b
}
