package postgres

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
)

// A tenant's configuration: its plan's limits and features (plans) overlaid
// with its operator's overrides (tenants.limits, tenants.features).
const configurationColumns = `t.name, t.plan, p.limits, p.features, t.limits, t.features`

// Its settings (tenant_settings, one row per tenant, NULL for unset), with
// what their document depends on. Update adds FOR UPDATE OF s: the row
// lock under which a patch's precondition is checked.
const settingsSQL = `
SELECT ` + configurationColumns + `,
       s.company_name, s.company_address, s.timezone, s.date_format, s.email_sender_name,
       s.default_reply_to, s.logo_url, s.primary_color, s.custom_domain
  FROM tenant_settings s
  JOIN tenants t ON t.id = s.tenant_id
  JOIN plans p ON p.name = t.plan
 WHERE s.tenant_id = $1`

const configurationSQL = `
SELECT ` + configurationColumns + `
  FROM tenants t
  JOIN plans p ON p.name = t.plan
 WHERE t.id = $1`

// The trigger on tenant_settings records the change as settings.updated
// with the old and new value of each column that changed.
const updateSettingsSQL = `
UPDATE tenant_settings
   SET company_name = $2, company_address = $3, timezone = $4, date_format = $5,
       email_sender_name = $6, default_reply_to = $7, logo_url = $8, primary_color = $9,
       custom_domain = $10, updated_at = now()
 WHERE tenant_id = $1`

// configurationRow is what configurationColumns read.
type configurationRow struct {
	name, plan                                 string
	planLimits, planFeatures, limits, features []byte
}

func (r *configurationRow) targets() []any {
	return []any{&r.name, &r.plan, &r.planLimits, &r.planFeatures, &r.limits, &r.features}
}

// configuration overlays the plan with the overrides.
func (r *configurationRow) configuration() (tenantd.Configuration, error) {
	plan := tenantd.Plan{Name: r.plan}
	var o tenantd.Overrides
	for _, d := range []struct {
		raw []byte
		v   any
	}{{r.planLimits, &plan.Limits}, {r.planFeatures, &plan.Features}, {r.limits, &o.Limits}, {r.features, &o.Features}} {
		if err := json.Unmarshal(d.raw, d.v); err != nil {
			return tenantd.Configuration{}, err
		}
	}
	return tenantd.Effective(plan, o)
}

// scanSettings reads the row of settingsSQL.
func scanSettings(rows pgx.Rows, s tenantd.Scope) (*tenantd.StoredSettings, error) {
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, err
		}
		return nil, tenantd.Errorf(tenantd.ENOTFOUND, "Not found.")
	}
	var c configurationRow
	st := &tenantd.StoredSettings{TenantID: s.TenantID}
	v := &st.Values
	if err := rows.Scan(append(c.targets(), &v.CompanyName, &v.CompanyAddress, &v.Timezone, &v.DateFormat,
		&v.EmailSenderName, &v.DefaultReplyTo, &v.LogoURL, &v.PrimaryColor, &v.CustomDomain)...); err != nil {
		return nil, err
	}
	cfg, err := c.configuration()
	st.TenantName, st.Config = c.name, cfg
	return st, err
}

// Get reads the tenant's settings and configuration: one round trip.
func (store *Settings) Get(ctx context.Context, s tenantd.Scope) (*tenantd.StoredSettings, error) {
	var out *tenantd.StoredSettings
	err := store.db.Run(ctx, s, Statement{SQL: settingsSQL, Args: []any{s.TenantID},
		Scan: func(rows pgx.Rows) (err error) {
			out, err = scanSettings(rows, s)
			return err
		}})
	return out, err
}

// Update applies a checked patch: the settings row is read under its lock,
// check decides on what it holds, and the change (if any) is written
// before the lock is let go, so of two patches made against one version
// only the first passes a check of that version. Three round trips: the
// locked read, the write (which the row trigger audits), the COMMIT.
func (store *Settings) Update(ctx context.Context, s tenantd.Scope, p *tenantd.SettingsPatch,
	check func(tenantd.StoredSettings) error) (*tenantd.StoredSettings, error) {
	var out *tenantd.StoredSettings
	err := store.db.InTenant(ctx, s, func(tx *Tx) error {
		rows, err := tx.Query(ctx, settingsSQL+` FOR UPDATE OF s`, s.TenantID)
		if err != nil {
			return err
		}
		cur, err := scanSettings(rows, s)
		rows.Close()
		if err != nil {
			return err
		}
		if err := check(*cur); err != nil {
			return err
		}
		next := cur.Values.Apply(p)
		out = cur
		if next.Equal(cur.Values) {
			return nil // nothing changes: no write, no event
		}
		v := next
		if _, err := tx.Exec(ctx, updateSettingsSQL, s.TenantID, v.CompanyName, v.CompanyAddress, v.Timezone,
			v.DateFormat, v.EmailSenderName, v.DefaultReplyTo, v.LogoURL, v.PrimaryColor, v.CustomDomain); err != nil {
			return err
		}
		out.Values = next
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Configuration reads the tenant's plan, limits and features: one round
// trip.
func (store *Settings) Configuration(ctx context.Context, s tenantd.Scope) (*tenantd.Configuration, error) {
	var out *tenantd.Configuration
	err := store.db.Run(ctx, s, Statement{SQL: configurationSQL, Args: []any{s.TenantID},
		Scan: func(rows pgx.Rows) error {
			if !rows.Next() {
				return tenantd.Errorf(tenantd.ENOTFOUND, "Not found.")
			}
			var c configurationRow
			if err := rows.Scan(c.targets()...); err != nil {
				return err
			}
			cfg, err := c.configuration()
			out = &cfg
			return err
		}})
	return out, err
}
