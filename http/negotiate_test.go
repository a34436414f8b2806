package http_test

import (
	"strings"
	"testing"
)

// The exports take their format from the format parameter, else from
// Accept, and say so in Vary; the answer is validated against the media
// type the document gives it.
func TestExportsNegotiateTheirMediaType(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	for _, c := range []struct {
		path, accept, want string
	}{
		{"/v1/audit-events/export", "", "application/jsonl"},
		{"/v1/audit-events/export", "text/csv", "text/csv"},
		{"/v1/audit-events/export", "application/x-ndjson", "application/jsonl"},
		{"/v1/audit-events/export", "application/jsonl;q=0.5, text/csv", "text/csv"},
		{"/v1/audit-events/export", "text/*", "text/csv"},
		{"/v1/audit-events/export", "application/json", "application/jsonl"},
		{"/v1/audit-events/export?format=jsonl", "text/csv", "application/jsonl"},
		{"/v1/audit-events/export?format=csv", "application/jsonl", "text/csv"},
		{"/v1/access-review", "", "application/json"},
		{"/v1/access-review", "text/csv", "text/csv"},
		{"/v1/access-review", "text/csv;q=0.2, application/json", "application/json"},
		{"/v1/access-review", "*/*", "application/json"},
		{"/v1/access-review?format=json", "text/csv", "application/json"},
		{"/v1/access-review?format=csv", "", "text/csv"},
	} {
		var headers []string
		if c.accept != "" {
			headers = []string{"Accept", c.accept}
		}
		res := a.do("GET", c.path, acme.Token, nil, headers...)
		if res.Status != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), c.want) || res.Header.Get("Vary") != "Accept" {
			t.Errorf("GET %s with Accept %q: %d %q (Vary %q), want %s", c.path, c.accept, res.Status,
				res.Header.Get("Content-Type"), res.Header.Get("Vary"), c.want)
		}
		if c.want == "text/csv" && !strings.Contains(string(res.Body), ",") {
			t.Errorf("GET %s with Accept %q: not CSV: %s", c.path, c.accept, res.Body)
		}
	}
	for _, path := range []string{"/v1/audit-events/export?format=xml", "/v1/access-review?format=xml"} {
		if res := a.do("GET", path, acme.Token, nil, "Accept", "text/csv"); res.Status != 400 {
			t.Errorf("GET %s: %d, want 400", path, res.Status)
		}
	}
}
