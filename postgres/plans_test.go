package postgres_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/internal/testenv"
)

// The database enforces the limits of the plans table; the API shows the
// catalogue of plan.go. They are the same, plan for plan, value for value.
func TestPlansTableIsTheCatalogue(t *testing.T) {
	t.Parallel()
	env := testenv.New(t)
	rows, err := adminConn(t, env).Query(context.Background(), `SELECT name, limits, features FROM plans ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Name             string
		Limits, Features []byte
	}
	stored, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != len(tenantd.PlanCatalogue) {
		t.Errorf("%d plans in the table, %d in the catalogue", len(stored), len(tenantd.PlanCatalogue))
	}
	for _, r := range stored {
		want, ok := tenantd.PlanNamed(r.Name)
		if !ok {
			t.Errorf("plan %s is in the table, not in the catalogue", r.Name)
			continue
		}
		var limits map[string]int
		if err := json.Unmarshal(r.Limits, &limits); err != nil {
			t.Fatalf("%s limits %s: %v", r.Name, r.Limits, err)
		}
		for _, name := range tenantd.LimitNames {
			if v, _ := want.Limits.Get(name); limits[name] != v {
				t.Errorf("%s %s: %d in the table, %d in the catalogue", r.Name, name, limits[name], v)
			}
		}
		if len(limits) != len(tenantd.LimitNames) {
			t.Errorf("%s limits %s: not exactly %v", r.Name, r.Limits, tenantd.LimitNames)
		}
		var features tenantd.Features // strict: every member a feature of today
		if err := json.Unmarshal(r.Features, &features); err != nil {
			t.Errorf("%s features %s: %v", r.Name, r.Features, err)
		}
		if len(features.Beta) == 0 {
			features.Beta = nil
		}
		if !reflect.DeepEqual(features, want.Features) {
			t.Errorf("%s features: %+v in the table, %+v in the catalogue", r.Name, features, want.Features)
		}
	}
}
