package tenantd

import "encoding/json"

// Feature flags: a tenant's features (plan.go) as the flags an OpenFeature
// SDK evaluates through the OpenFeature Remote Evaluation Protocol
// (http/ofrep.go). Every feature of the tenant's configuration is a flag
// of the same name (custom_branding, api_rate_limit, data_retention,
// beta.<name>). Its value is the tenant's, whatever the evaluation context
// says: the reason is always STATIC, and the tenant is the caller's token's,
// never one the context names.

// FlagReasonStatic is the OpenFeature resolution reason of every tenant
// flag: its value does not depend on the evaluation context.
const FlagReasonStatic = "STATIC"

// FlagVariantOverride is the variant of a flag an operator set for the
// tenant; a flag from the plan has the plan's name as variant.
const FlagVariantOverride = "override"

// FlagEvaluation is one evaluated flag, as OFREP answers it: the key, the
// value (a boolean or an object), the reason, a variant naming where the
// value comes from, and metadata saying the same for telemetry.
type FlagEvaluation struct {
	Key      string          `json:"key"`
	Value    json.RawMessage `json:"value"`
	Reason   string          `json:"reason"`
	Variant  string          `json:"variant"`
	Metadata FlagMetadata    `json:"metadata"`
}

// FlagMetadata is OFREP's flag metadata of a tenant flag: where its value
// comes from (SourcePlan or SourceOverride) and the tenant's plan.
type FlagMetadata struct {
	Source string `json:"source"`
	Plan   string `json:"plan"`
}

// EvaluateFlag evaluates the flag named key; false when the configuration
// has no such flag.
func (c Configuration) EvaluateFlag(key string) (FlagEvaluation, bool) {
	v, ok := c.Features.Value(key)
	if !ok {
		return FlagEvaluation{}, false
	}
	e := FlagEvaluation{Key: key, Value: v, Reason: FlagReasonStatic, Variant: c.Plan,
		Metadata: FlagMetadata{Source: c.Source(key), Plan: c.Plan}}
	if e.Metadata.Source == SourceOverride {
		e.Variant = FlagVariantOverride
	}
	return e, true
}

// EvaluateFlags evaluates every flag of the configuration, by name.
func (c Configuration) EvaluateFlags() []FlagEvaluation {
	names := FeatureNames()
	out := make([]FlagEvaluation, 0, len(names))
	for _, name := range names {
		if e, ok := c.EvaluateFlag(name); ok {
			out = append(out, e)
		}
	}
	return out
}
