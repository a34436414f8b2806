package tenantd_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tenantd/tenantd"
)

func TestPlanCatalogue(t *testing.T) {
	if got := tenantd.PlanNames(); len(got) != 3 || got[0] != "free" || got[1] != "pro" || got[2] != "enterprise" {
		t.Fatalf("plans %v", got)
	}
	for _, p := range tenantd.PlanCatalogue {
		for _, name := range tenantd.LimitNames {
			v, _ := p.Limits.Get(name)
			if err := tenantd.ValidateLimit(name, v); err != nil || v == 0 {
				t.Errorf("%s %s = %d: %v", p.Name, name, v, err)
			}
		}
		// Every feature of every plan passes the rules an operator's
		// override must pass, and survives its JSON form.
		b, err := json.Marshal(p.Features)
		if err != nil {
			t.Fatal(err)
		}
		var back tenantd.Features
		if err := json.Unmarshal(b, &back); err != nil {
			t.Errorf("%s features %s: %v", p.Name, b, err)
		}
		b2, _ := json.Marshal(back)
		if string(b) != string(b2) {
			t.Errorf("%s features do not round-trip: %s, then %s", p.Name, b, b2)
		}
	}
	if _, ok := tenantd.PlanNamed("gold"); ok {
		t.Error("a plan named gold")
	}
}

// The configuration is the plan overlaid by the overrides, each value with
// its source.
func TestEffectiveConfiguration(t *testing.T) {
	pro, _ := tenantd.PlanNamed("pro")
	c, err := tenantd.Effective(pro, tenantd.Overrides{
		Limits: map[string]int{"max_users": 7},
		Features: map[string]json.RawMessage{
			"custom_branding":           json.RawMessage(`true`),
			"api_rate_limit":            json.RawMessage(`{"rate": 10, "period_seconds": 1, "burst": 5}`),
			tenantd.BetaSettingsHistory: json.RawMessage(`true`),
			"beta.ended_long_ago":       json.RawMessage(`true`), // a beta that no longer exists: ignored
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := tenantd.Limits{MaxWorkspaces: 10, MaxUsers: 7, EmailSendsPerMonth: 50_000}
	if c.Limits != want {
		t.Errorf("limits %+v, want %+v", c.Limits, want)
	}
	if c.Source("max_users") != tenantd.SourceOverride || c.Source("max_workspaces") != tenantd.SourcePlan {
		t.Errorf("limit sources %v", c.Overridden)
	}
	if !c.Features.CustomBranding || !c.HasBeta(tenantd.BetaSettingsHistory) || c.HasBeta("beta.ended_long_ago") {
		t.Errorf("features %+v", c.Features)
	}
	if rl := c.RateLimit(); rl != (tenantd.RateLimit{Rate: 10, Period: time.Second, Burst: 5}) {
		t.Errorf("rate limit %+v", rl)
	}
	got := map[string]tenantd.FeatureValue{}
	for _, f := range c.FeatureList() {
		got[f.Name] = f
	}
	if len(got) != len(tenantd.FeatureNames()) {
		t.Errorf("feature list %v, want every feature of %v", got, tenantd.FeatureNames())
	}
	for name, want := range map[string]string{
		"custom_branding":           `true override`,
		"api_rate_limit":            `{"rate":10,"period_seconds":1,"burst":5} override`,
		"data_retention":            `{"audit_days":365,"send_days":365,"deleted_days":30} plan`,
		tenantd.BetaSettingsHistory: `true override`,
	} {
		if f := got[name]; string(f.Value)+" "+f.Source != want {
			t.Errorf("%s: %s %s, want %s", name, f.Value, f.Source, want)
		}
	}
	// The plan's own features are untouched.
	if again, _ := tenantd.PlanNamed("pro"); again.Features.CustomBranding || again.Features.Beta[tenantd.BetaSettingsHistory] {
		t.Error("Effective changed the catalogue")
	}

	if _, err := tenantd.Effective(pro, tenantd.Overrides{Limits: map[string]int{"max_users": -1}}); tenantd.ErrorCode(err) != tenantd.EINVALID {
		t.Errorf("a negative limit override: %v", err)
	}
}

func TestValidateFeature(t *testing.T) {
	for _, c := range []struct {
		name, value string
		ok          bool
	}{
		{"custom_branding", `true`, true},
		{"custom_branding", `false`, true},
		{"custom_branding", `null`, false},
		{"custom_branding", `"yes"`, false},
		{tenantd.BetaSettingsHistory, `true`, true},
		{"beta.unknown", `true`, false},
		{"nonsense", `true`, false},
		{"api_rate_limit", `{"rate": 100, "period_seconds": 60, "burst": 10}`, true},
		{"api_rate_limit", `{"rate": 100, "period_seconds": 60}`, false},
		{"api_rate_limit", `{"rate": 0, "period_seconds": 60, "burst": 10}`, false},
		{"api_rate_limit", `{"rate": 100, "period_seconds": 86401, "burst": 10}`, false},
		{"api_rate_limit", `{"rate": 100, "period_seconds": 60, "burst": 10, "x": 1}`, false},
		{"api_rate_limit", `{"rate": 1.5, "period_seconds": 60, "burst": 10}`, false},
		{"data_retention", `{"audit_days": 30, "send_days": 30, "deleted_days": 7}`, true},
		{"data_retention", `{"audit_days": 30, "sends_days": 30, "deleted_days": 7}`, false},
		{"data_retention", `{"audit_days": 3651, "send_days": 30, "deleted_days": 7}`, false},
		{"data_retention", `{"audit_days": 0, "send_days": 30, "deleted_days": 7}`, false},
	} {
		err := tenantd.ValidateFeature(c.name, json.RawMessage(c.value))
		if (err == nil) != c.ok {
			t.Errorf("%s = %s: %v, want ok=%v", c.name, c.value, err, c.ok)
		}
		if err != nil && tenantd.ErrorCode(err) != tenantd.EINVALID {
			t.Errorf("%s = %s: %v is not EINVALID", c.name, c.value, err)
		}
	}
	for _, c := range []struct {
		name  string
		value int
		ok    bool
	}{{"max_users", 0, true}, {"max_users", tenantd.MaxLimit, true}, {"max_users", tenantd.MaxLimit + 1, false},
		{"max_workspaces", -1, false}, {"max_things", 1, false}} {
		if err := tenantd.ValidateLimit(c.name, c.value); (err == nil) != c.ok {
			t.Errorf("limit %s = %d: %v, want ok=%v", c.name, c.value, err, c.ok)
		}
	}
}
