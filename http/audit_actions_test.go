package http_test

import (
	"slices"
	"testing"

	"github.com/tenantd/tenantd"
)

// GET /v1/audit-actions serves the catalogue, to any user of the tenant.
func TestAuditActionsRoute(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	_, memberToken := a.member(acme)
	for _, token := range []string{acme.Token, memberToken} {
		res := a.do("GET", "/v1/audit-actions", token, nil)
		if res.Status != 200 {
			t.Fatalf("GET /v1/audit-actions: %d %s", res.Status, res.Body)
		}
		var page struct {
			Items      []tenantd.AuditAction `json:"items"`
			NextCursor *string               `json:"next_cursor"`
		}
		res.json(t, &page)
		if !slices.Equal(page.Items, tenantd.Actions) || page.NextCursor != nil {
			t.Fatalf("GET /v1/audit-actions answered %d actions (cursor %v), the catalogue has %d", len(page.Items), page.NextCursor, len(tenantd.Actions))
		}
	}
	if res := a.do("GET", "/v1/audit-actions?limit=5", acme.Token, nil); res.Status != 400 {
		t.Errorf("an unknown parameter: %d, want 400", res.Status)
	}
}

// The OpenAPI document's AuditActionName is the catalogue: the same names,
// descriptions and former names, so a generated client knows every action.
func TestOpenAPIActionEnumIsTheCatalogue(t *testing.T) {
	doc, err := openAPIDoc()
	if err != nil {
		t.Fatal(err)
	}
	ref := doc.Components.Schemas["AuditActionName"]
	if ref == nil || ref.Value == nil {
		t.Fatal("no components.schemas.AuditActionName")
	}
	var inDoc []tenantd.AuditAction
	for _, one := range ref.Value.OneOf {
		name, _ := one.Value.Const.(string)
		a := tenantd.AuditAction{Name: name, Description: one.Value.Description}
		if one.Value.Deprecated {
			a.ReplacedBy = "?"
		}
		inDoc = append(inDoc, a)
	}
	if len(inDoc) != len(tenantd.Actions) {
		t.Errorf("the document lists %d actions, the catalogue %d", len(inDoc), len(tenantd.Actions))
	}
	for i, want := range tenantd.Actions {
		if i >= len(inDoc) {
			break
		}
		got := inDoc[i]
		if got.Name != want.Name || got.Description != want.Description || (got.ReplacedBy != "") != (want.ReplacedBy != "") {
			t.Errorf("action %d: document %+v, catalogue %+v", i, got, want)
		}
	}
}

// An audit filter naming no action of the catalogue is a 400, not an empty
// page; current and former names and their prefixes are accepted.
func TestAuditFilterRefusesUnknownActions(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	for _, path := range []string{"/v1/audit-events", "/v1/audit-events/export"} {
		for _, q := range []string{"action=login.faild", "action=workspace.renamed", "action=nosuch.*", "action=login.fail*"} {
			if res := a.do("GET", path+"?"+q, acme.Token, nil); res.Status != 400 {
				t.Errorf("GET %s?%s: %d, want 400: %s", path, q, res.Status, res.Body)
			}
		}
		for _, q := range []string{"action=login.failed", "action=auth.login.failed", "action=workspace_member.*", "action=auth.*"} {
			if res := a.do("GET", path+"?"+q, acme.Token, nil); res.Status != 200 {
				t.Errorf("GET %s?%s: %d, want 200: %s", path, q, res.Status, res.Body)
			}
		}
	}
}
