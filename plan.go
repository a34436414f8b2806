package tenantd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Plans, limits and features.
//
// A tenant is on one plan, which gives it limits and features. An operator
// may override any of them for one tenant (tenants.limits and
// tenants.features, each a JSON object by name); what a tenant has is its
// Configuration: the plan's defaults overlaid with its overrides, each
// value with its source.
//
// PlanCatalogue is the one place that says what each plan gives. The
// database holds the same in its plans table, because it enforces the
// limits itself (app.tenant_limit); a migration writes the catalogue there
// and TestPlansTableIsTheCatalogue (package postgres) fails when the two
// differ.

// PlanCatalogue is what each plan gives, at a glance.
var PlanCatalogue = []Plan{
	{Name: "free",
		Limits: Limits{MaxWorkspaces: 3, MaxUsers: 5, EmailSendsPerMonth: 1_000},
		Features: Features{CustomBranding: false,
			APIRateLimit:  APIRateLimit{Rate: 600, PeriodSeconds: 60, Burst: 60},
			DataRetention: DataRetention{AuditDays: 90, SendDays: 90, DeletedDays: 30}}},
	{Name: "pro",
		Limits: Limits{MaxWorkspaces: 10, MaxUsers: 25, EmailSendsPerMonth: 50_000},
		Features: Features{CustomBranding: false,
			APIRateLimit:  APIRateLimit{Rate: 3_000, PeriodSeconds: 60, Burst: 300},
			DataRetention: DataRetention{AuditDays: 365, SendDays: 365, DeletedDays: 30}}},
	{Name: "enterprise",
		Limits: Limits{MaxWorkspaces: 100, MaxUsers: 500, EmailSendsPerMonth: 1_000_000},
		Features: Features{CustomBranding: true,
			APIRateLimit:  APIRateLimit{Rate: 12_000, PeriodSeconds: 60, Burst: 1_200},
			DataRetention: DataRetention{AuditDays: 2_555, SendDays: 730, DeletedDays: 90}}},
}

// Betas are the capabilities in early access. A route declares the one it
// belongs to (http.Route.Beta); to a tenant without the flag it answers 404
// as if it did not exist, and /openapi.yaml does not show it. No plan
// turns a beta on: an operator does, tenant by tenant.
var Betas = []Beta{
	{Name: BetaSettingsHistory, Description: "GET /v1/tenant/settings/history: every change of the tenant's settings, newest first, from its audit log."},
}

// Beta is one capability in early access, flagged "beta.<name>".
type Beta struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// The betas of today.
const BetaSettingsHistory = "beta.settings_history"

// Plan is what a plan gives.
type Plan struct {
	Name     string
	Limits   Limits
	Features Features
}

// PlanNamed returns the plan of the catalogue with that name.
func PlanNamed(name string) (Plan, bool) {
	for _, p := range PlanCatalogue {
		if p.Name == name {
			return p, true
		}
	}
	return Plan{}, false
}

// PlanNames lists the plans of the catalogue.
func PlanNames() []string {
	names := make([]string, len(PlanCatalogue))
	for i, p := range PlanCatalogue {
		names[i] = p.Name
	}
	return names
}

// The limits, by the names the API, the database and the overrides use.
// The database enforces them under concurrency (app.bump_usage).
const (
	LimitMaxWorkspaces      = "max_workspaces"
	LimitMaxUsers           = "max_users"
	LimitEmailSendsPerMonth = "email_sends_per_month"
)

// LimitNames lists every limit.
var LimitNames = []string{LimitMaxWorkspaces, LimitMaxUsers, LimitEmailSendsPerMonth}

// MaxLimit is the largest value a limit may be set to.
const MaxLimit = 1_000_000_000

// Limits are a tenant's limits, as the settings document shows them.
type Limits struct {
	MaxWorkspaces      int `json:"max_workspaces"`
	MaxUsers           int `json:"max_users"`
	EmailSendsPerMonth int `json:"email_sends_per_month"`
}

// field returns the limit of that name.
func (l *Limits) field(name string) *int {
	switch name {
	case LimitMaxWorkspaces:
		return &l.MaxWorkspaces
	case LimitMaxUsers:
		return &l.MaxUsers
	case LimitEmailSendsPerMonth:
		return &l.EmailSendsPerMonth
	}
	return nil
}

// Get returns the limit of that name.
func (l Limits) Get(name string) (int, bool) {
	if p := l.field(name); p != nil {
		return *p, true
	}
	return 0, false
}

// ValidateLimit checks an operator's value for a limit: EINVALID naming
// it. A limit below a tenant's current usage is allowed: what exists
// stays, new creations are refused.
func ValidateLimit(name string, value int) error {
	if !slices.Contains(LimitNames, name) {
		return Invalid(FieldError{Pointer: "/" + escapePointer(name), Detail: "is not a limit (" + strings.Join(LimitNames, ", ") + ")"})
	}
	if value < 0 || value > MaxLimit {
		return Invalid(FieldError{Pointer: "/" + name, Detail: fmt.Sprintf("must be between 0 and %d", MaxLimit)})
	}
	return nil
}

// The features a plan gives and an operator may override, by name. A beta
// is "beta.<name>" (Betas).
const (
	FeatureCustomBranding = "custom_branding" // branding settings (logo, colour, custom sending domain)
	FeatureAPIRateLimit   = "api_rate_limit"  // the tenant's request rate and burst, on every instance
	FeatureDataRetention  = "data_retention"  // days kept per class of data
	BetaPrefix            = "beta."
)

// Features are a tenant's features. In JSON (the plans table, the
// overrides, GET /v1/tenant/features) they are one object by feature
// name: {"custom_branding": true, "api_rate_limit": {…}, "beta.x": false}.
type Features struct {
	CustomBranding bool
	APIRateLimit   APIRateLimit
	DataRetention  DataRetention
	// Beta holds the betas that are on, by full name ("beta.x"). A beta
	// not in it is off.
	Beta map[string]bool
}

// APIRateLimit is a request rate (Rate per PeriodSeconds) with a burst.
type APIRateLimit struct {
	Rate          int `json:"rate"`
	PeriodSeconds int `json:"period_seconds"`
	Burst         int `json:"burst"`
}

// DataRetention is how many days each class of data is kept: audit events,
// send records, and deleted data (deleted workspaces, deactivated users).
type DataRetention struct {
	AuditDays   int `json:"audit_days"`
	SendDays    int `json:"send_days"`
	DeletedDays int `json:"deleted_days"`
}

// MaxRetentionDays is the longest retention of any class (ten years).
const MaxRetentionDays = 3650

// FeatureNames lists every feature, betas included, sorted.
func FeatureNames() []string {
	names := []string{FeatureAPIRateLimit, FeatureCustomBranding, FeatureDataRetention}
	for _, b := range Betas {
		names = append(names, b.Name)
	}
	sort.Strings(names)
	return names
}

// IsBeta reports whether name is a registered beta.
func IsBeta(name string) bool {
	for _, b := range Betas {
		if b.Name == name {
			return true
		}
	}
	return false
}

// Value returns the JSON value of one feature.
func (f Features) Value(name string) (json.RawMessage, bool) {
	var v any
	switch {
	case name == FeatureCustomBranding:
		v = f.CustomBranding
	case name == FeatureAPIRateLimit:
		v = f.APIRateLimit
	case name == FeatureDataRetention:
		v = f.DataRetention
	case IsBeta(name):
		v = f.Beta[name]
	default:
		return nil, false
	}
	b, err := json.Marshal(v)
	return b, err == nil
}

// set decodes one feature's value strictly and validates it.
func (f *Features) set(name string, raw json.RawMessage) error {
	bad := func(detail string) error {
		return Invalid(FieldError{Pointer: "/" + escapePointer(clipName(name)), Detail: detail})
	}
	switch {
	case name == FeatureCustomBranding || IsBeta(name):
		var on bool
		if isNull(raw) || decodeStrict(raw, &on) != nil {
			return bad("must be true or false")
		}
		if name == FeatureCustomBranding {
			f.CustomBranding = on
			return nil
		}
		if f.Beta == nil {
			f.Beta = map[string]bool{}
		}
		if on {
			f.Beta[name] = true
		} else {
			delete(f.Beta, name)
		}
		return nil
	case name == FeatureAPIRateLimit:
		var rl APIRateLimit
		if decodeStrict(raw, &rl) != nil {
			return bad("must be {\"rate\", \"period_seconds\", \"burst\"} with integer values")
		}
		if rl.Rate < 1 || rl.Rate > 10_000_000 || rl.PeriodSeconds < 1 || rl.PeriodSeconds > 86_400 ||
			rl.Burst < 1 || rl.Burst > 10_000_000 {
			return bad("rate and burst must be 1 to 10000000, period_seconds 1 to 86400")
		}
		f.APIRateLimit = rl
		return nil
	case name == FeatureDataRetention:
		var dr DataRetention
		if decodeStrict(raw, &dr) != nil {
			return bad("must be {\"audit_days\", \"send_days\", \"deleted_days\"} with integer values")
		}
		for _, d := range []int{dr.AuditDays, dr.SendDays, dr.DeletedDays} {
			if d < 1 || d > MaxRetentionDays {
				return bad(fmt.Sprintf("every period must be 1 to %d days", MaxRetentionDays))
			}
		}
		f.DataRetention = dr
		return nil
	case strings.HasPrefix(name, BetaPrefix):
		return bad("is not a registered beta")
	}
	return bad("is not a feature (" + strings.Join(FeatureNames(), ", ") + ")")
}

// ValidateFeature checks an operator's value for one feature: EINVALID
// naming it when the name is unknown or the value wrong.
func ValidateFeature(name string, value json.RawMessage) error {
	var f Features
	return f.set(name, value)
}

// MarshalJSON writes every feature, one member each, betas included.
func (f Features) MarshalJSON() ([]byte, error) {
	out := make(map[string]json.RawMessage, len(Betas)+3)
	for _, name := range FeatureNames() {
		out[name], _ = f.Value(name)
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads the features it names, strictly: an unknown name or
// a wrong value is an error. Features it does not name keep their value.
func (f *Features) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := decodeStrict(b, &m); err != nil {
		return err
	}
	for _, name := range sortedKeys(m) {
		if err := f.set(name, m[name]); err != nil {
			return err
		}
	}
	return nil
}

// Sources of a limit or feature of a tenant's configuration.
const (
	SourcePlan     = "plan"     // the tenant's plan gives it
	SourceOverride = "override" // an operator set it for this tenant
)

// Overrides are an operator's changes to one tenant's plan, by name, as
// tenants.limits and tenants.features hold them. What they do not name
// comes from the plan.
type Overrides struct {
	Limits   map[string]int             `json:"limits"`
	Features map[string]json.RawMessage `json:"features"`
}

// Configuration is what a tenant has: its plan's limits and features
// overlaid with its operator's overrides.
type Configuration struct {
	Plan     string
	Limits   Limits
	Features Features
	// Overridden names the limits and features an operator set.
	Overridden map[string]bool
}

// Effective overlays a plan with a tenant's overrides. An override that
// names no limit or feature of today (a beta that has ended) is ignored;
// a wrong value is EINVALID.
func Effective(plan Plan, o Overrides) (Configuration, error) {
	c := Configuration{Plan: plan.Name, Limits: plan.Limits, Features: plan.Features, Overridden: map[string]bool{}}
	c.Features.Beta = map[string]bool{}
	for name, on := range plan.Features.Beta {
		c.Features.Beta[name] = on
	}
	for _, name := range sortedKeys(o.Limits) {
		if p := c.Limits.field(name); p != nil {
			if err := ValidateLimit(name, o.Limits[name]); err != nil {
				return Configuration{}, err
			}
			*p = o.Limits[name]
			c.Overridden[name] = true
		}
	}
	for _, name := range sortedKeys(o.Features) {
		if _, known := c.Features.Value(name); !known {
			continue
		}
		if err := c.Features.set(name, o.Features[name]); err != nil {
			return Configuration{}, err
		}
		c.Overridden[name] = true
	}
	return c, nil
}

// Source says where a limit or feature of the configuration comes from.
func (c Configuration) Source(name string) string {
	if c.Overridden[name] {
		return SourceOverride
	}
	return SourcePlan
}

// HasBeta reports whether the tenant has a beta (by full name, "beta.x").
func (c Configuration) HasBeta(name string) bool { return c.Features.Beta[name] }

// FeatureValue is one feature of a tenant's configuration: its value and
// where it comes from.
type FeatureValue struct {
	Name   string          `json:"name"`
	Value  json.RawMessage `json:"value"`
	Source string          `json:"source"`
}

// FeatureList lists every feature of the configuration, by name.
func (c Configuration) FeatureList() []FeatureValue {
	out := make([]FeatureValue, 0, len(Betas)+3)
	for _, name := range FeatureNames() {
		v, _ := c.Features.Value(name)
		out = append(out, FeatureValue{Name: name, Value: v, Source: c.Source(name)})
	}
	return out
}

// LimitValue is one limit of a tenant's configuration and its source.
type LimitValue struct {
	Name   string `json:"name"`
	Value  int    `json:"value"`
	Source string `json:"source"`
}

// LimitList lists every limit of the configuration.
func (c Configuration) LimitList() []LimitValue {
	out := make([]LimitValue, 0, len(LimitNames))
	for _, name := range LimitNames {
		v, _ := c.Limits.Get(name)
		out = append(out, LimitValue{Name: name, Value: v, Source: c.Source(name)})
	}
	return out
}

// RateLimit is the configuration's API rate limit.
func (c Configuration) RateLimit() RateLimit {
	rl := c.Features.APIRateLimit
	return RateLimit{Rate: rl.Rate, Period: secondsDuration(rl.PeriodSeconds), Burst: rl.Burst}
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func secondsDuration(s int) time.Duration { return time.Duration(s) * time.Second }

// decodeStrict decodes one JSON value, refusing unknown fields and
// trailing data.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
