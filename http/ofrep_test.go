package http_test

import (
	"encoding/json"
	"testing"

	"github.com/tenantd/tenantd"
)

type flagEvaluation struct {
	Key      string
	Value    json.RawMessage
	Reason   string
	Variant  string
	Metadata struct{ Source, Plan string }
}

type evaluationProblem struct {
	Status       int
	Type         string
	Key          *string
	ErrorCode    string `json:"errorCode"`
	ErrorDetails string `json:"errorDetails"`
}

// evaluate is OFREP's single flag evaluation.
func (a *app) evaluate(token, key string, body any) (*response, flagEvaluation) {
	a.t.Helper()
	res := a.do("POST", "/ofrep/v1/evaluate/flags/"+key, token, body)
	var e flagEvaluation
	if res.Status == 200 {
		res.json(a.t, &e)
	}
	return res, e
}

// Two tenants on different plans, one with an operator's overrides: each
// token evaluates its own tenant's flags, with the source and plan as
// variant and metadata, one at a time and in bulk.
func TestOFREPEvaluatesTheCallersTenant(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	pro := a.newTenant("pro")
	ent := a.newTenant("enterprise")
	op := a.operatorToken()
	a.admin(op, "PUT", "/v1/admin/tenants/"+pro.ID.String()+"/features/"+tenantd.BetaSettingsHistory, map[string]any{"value": true}, 200)
	a.admin(op, "PUT", "/v1/admin/tenants/"+pro.ID.String()+"/features/api_rate_limit",
		map[string]any{"value": map[string]any{"rate": 100, "period_seconds": 10, "burst": 50}}, 200)
	ctx := map[string]any{"context": map[string]any{"targetingKey": "user-1", "email": "someone@example.com"}}

	for _, c := range []struct {
		tn             *tenant
		key, value     string
		variant, plan  string
		source, reason string
	}{
		{pro, "custom_branding", "false", "pro", "pro", tenantd.SourcePlan, "STATIC"},
		{ent, "custom_branding", "true", "enterprise", "enterprise", tenantd.SourcePlan, "STATIC"},
		{pro, tenantd.BetaSettingsHistory, "true", "override", "pro", tenantd.SourceOverride, "STATIC"},
		{ent, tenantd.BetaSettingsHistory, "false", "enterprise", "enterprise", tenantd.SourcePlan, "STATIC"},
		{pro, "api_rate_limit", `{"rate":100,"period_seconds":10,"burst":50}`, "override", "pro", tenantd.SourceOverride, "STATIC"},
		{ent, "api_rate_limit", `{"rate":12000,"period_seconds":60,"burst":1200}`, "enterprise", "enterprise", tenantd.SourcePlan, "STATIC"},
	} {
		res, e := a.evaluate(c.tn.Token, c.key, ctx)
		if res.Status != 200 || e.Key != c.key || string(e.Value) != c.value || e.Reason != c.reason ||
			e.Variant != c.variant || e.Metadata.Source != c.source || e.Metadata.Plan != c.plan {
			t.Errorf("%s's %s: %d %s", c.tn.Slug, c.key, res.Status, res.Body)
		}
	}

	// A member evaluates too; an empty request is a valid one.
	_, member := a.member(pro)
	if res, e := a.evaluate(member, tenantd.BetaSettingsHistory, map[string]any{}); res.Status != 200 || string(e.Value) != "true" {
		t.Errorf("a member's evaluation: %d %s", res.Status, res.Body)
	}

	// Bulk: every flag, and 304 while they are the same.
	bulk := func(tn *tenant, headers ...string) (*response, map[string]string) {
		res := a.do("POST", "/ofrep/v1/evaluate/flags", tn.Token, ctx, headers...)
		values := map[string]string{}
		if res.Status == 200 {
			var set struct{ Flags []flagEvaluation }
			res.json(t, &set)
			for _, f := range set.Flags {
				values[f.Key] = string(f.Value)
			}
		}
		return res, values
	}
	res, values := bulk(pro)
	if res.Status != 200 || len(values) != len(tenantd.FeatureNames()) || values[tenantd.BetaSettingsHistory] != "true" || values["custom_branding"] != "false" {
		t.Fatalf("pro's bulk evaluation: %d %s", res.Status, res.Body)
	}
	tag := res.Header.Get("ETag")
	if _, other := bulk(ent); other[tenantd.BetaSettingsHistory] != "false" || other["custom_branding"] != "true" {
		t.Errorf("enterprise's bulk evaluation: %v", other)
	}
	if res, _ := bulk(pro, "If-None-Match", tag); res.Status != 304 || res.Header.Get("ETag") != tag || len(res.Body) != 0 {
		t.Errorf("If-None-Match with the current ETag: %d %q", res.Status, res.Body)
	}
	a.admin(op, "DELETE", "/v1/admin/tenants/"+pro.ID.String()+"/features/"+tenantd.BetaSettingsHistory, nil, 200)
	if res, values := bulk(pro, "If-None-Match", tag); res.Status != 200 || res.Header.Get("ETag") == tag || values[tenantd.BetaSettingsHistory] != "false" {
		t.Errorf("If-None-Match after a change: %d %s", res.Status, res.Body)
	}
}

// Failures carry OFREP's error codes, which the providers read, inside
// problem details.
func TestOFREPFailures(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	tn := a.newTenant("pro")
	for _, c := range []struct {
		path   string
		body   any
		status int
		code   string
		key    string
	}{
		{"/ofrep/v1/evaluate/flags/no_such_flag", map[string]any{"context": map[string]any{}}, 404, "FLAG_NOT_FOUND", "no_such_flag"},
		{"/ofrep/v1/evaluate/flags/beta.unregistered", map[string]any{}, 404, "FLAG_NOT_FOUND", "beta.unregistered"},
		{"/ofrep/v1/evaluate/flags/custom_branding", `{"context": `, 400, "PARSE_ERROR", "custom_branding"},
		{"/ofrep/v1/evaluate/flags/custom_branding", map[string]any{"context": 5}, 400, "INVALID_CONTEXT", "custom_branding"},
		{"/ofrep/v1/evaluate/flags/custom_branding", map[string]any{"context": map[string]any{"targetingKey": 7}}, 400, "INVALID_CONTEXT", "custom_branding"},
		{"/ofrep/v1/evaluate/flags/custom_branding", map[string]any{"flags": []string{"x"}}, 400, "PARSE_ERROR", "custom_branding"},
		{"/ofrep/v1/evaluate/flags", `[]`, 400, "PARSE_ERROR", ""},
		{"/ofrep/v1/evaluate/flags", map[string]any{"context": "x"}, 400, "INVALID_CONTEXT", ""},
	} {
		res := a.do("POST", c.path, tn.Token, c.body)
		var p evaluationProblem
		res.json(t, &p)
		switch {
		case res.Status != c.status || p.ErrorCode != c.code || p.ErrorDetails == "":
			t.Errorf("%s %v: %d %s", c.path, c.body, res.Status, res.Body)
		case c.key == "" && p.Key != nil, c.key != "" && (p.Key == nil || *p.Key != c.key):
			t.Errorf("%s %v: key %v, want %q", c.path, c.body, p.Key, c.key)
		}
	}
	if res := a.do("POST", "/ofrep/v1/evaluate/flags/custom_branding", "", map[string]any{}); res.Status != 401 {
		t.Errorf("without a token: %d", res.Status)
	}
}

// The tenant comes from the token only: an evaluation context naming
// another tenant is refused with 403 and flagged in the caller's log, like
// a tenant_id anywhere else; naming the caller's own tenant is fine.
func TestOFREPRefusesAnotherTenantInTheContext(t *testing.T) {
	t.Parallel()
	a := newApp(t)
	acme := a.newTenant("pro")
	globex := a.newTenant("enterprise")
	for _, path := range []string{"/ofrep/v1/evaluate/flags/custom_branding", "/ofrep/v1/evaluate/flags"} {
		before := len(a.flagged(acme.ID, tenantd.FlagTenantMismatch))
		res := a.do("POST", path, acme.Token, map[string]any{"context": map[string]any{"targetingKey": "u", "tenant_id": globex.ID.String()}})
		if res.Status != 403 {
			t.Errorf("%s with globex in the context: %d %s", path, res.Status, res.Body)
		}
		if got := a.flagged(acme.ID, tenantd.FlagTenantMismatch); len(got) != before+1 {
			t.Errorf("%s with globex in the context: %d tenant_mismatch events, want %d", path, len(got), before+1)
		}
		if res := a.do("POST", path, acme.Token, map[string]any{"context": map[string]any{"tenant_id": ""}}); res.Status != 403 {
			t.Errorf("%s with an empty tenant_id in the context: %d", path, res.Status)
		}
		if res := a.do("POST", path, acme.Token, map[string]any{"context": map[string]any{"tenant_id": acme.ID.String()}}); res.Status != 200 {
			t.Errorf("%s with acme's own id in the context: %d %s", path, res.Status, res.Body)
		}
	}
	if got := a.flagged(globex.ID, tenantd.FlagTenantMismatch); len(got) != 0 {
		t.Errorf("globex's log has %d tenant_mismatch events of acme's requests", len(got))
	}
}
