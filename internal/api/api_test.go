package api

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestOpenAPIDocumentMatchesRoutes: every endpoint of the route table is
// in the OpenAPI document with the same method and authentication, and the
// document describes nothing else.
func TestOpenAPIDocumentMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			OperationID string           `json:"operationId"`
			Security    []map[string]any `json:"security"`
			Responses   map[string]any   `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi version %q, want 3.1.0", doc.OpenAPI)
	}
	var table, described []string
	for _, rt := range (&API{}).routes() {
		key := rt.Method + " " + rt.Path
		table = append(table, key)
		op, ok := doc.Paths[rt.Path][strings.ToLower(rt.Method)]
		if !ok {
			t.Errorf("%s is served but not described", key)
			continue
		}
		if authed := len(op.Security) > 0; authed != rt.Auth {
			t.Errorf("%s: described with security %v, served with auth %v", key, authed, rt.Auth)
		}
		if op.OperationID == "" || op.Responses["default"] == nil {
			t.Errorf("%s: needs an operationId and a default (error) response", key)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			described = append(described, strings.ToUpper(method)+" "+path)
		}
	}
	for _, d := range described {
		if !slices.Contains(table, d) {
			t.Errorf("%s is described but not served", d)
		}
	}
	if len(table) < 15 {
		t.Errorf("only %d routes: the table is broken", len(table))
	}
}
