package tenantd_test

import (
	"regexp"
	"testing"

	"github.com/tenantd/tenantd"
)

// Every action of the catalogue is named <resource>.<verb>, once, with a
// description; a former name points at a current one.
func TestActionCatalogueNames(t *testing.T) {
	name := regexp.MustCompile(`^[a-z]+(_[a-z]+)*\.[a-z]+(_[a-z]+)*$`)
	seen := map[string]bool{}
	current := map[string]bool{}
	for _, a := range tenantd.Actions {
		if seen[a.Name] {
			t.Errorf("%s is listed twice", a.Name)
		}
		seen[a.Name] = true
		if a.Description == "" {
			t.Errorf("%s has no description", a.Name)
		}
		if a.ReplacedBy == "" {
			current[a.Name] = true
			if !name.MatchString(a.Name) {
				t.Errorf("%s is not <resource>.<verb> in snake_case", a.Name)
			}
		}
	}
	for _, a := range tenantd.Actions {
		if a.ReplacedBy != "" && !current[a.ReplacedBy] {
			t.Errorf("former name %s is replaced by %q, which is not a current action", a.Name, a.ReplacedBy)
		}
	}
	for _, c := range []struct {
		name        string
		action, pre bool
	}{
		{"login.failed", true, true}, {"auth.login.failed", true, true}, {"login.", false, true}, {"workspace_member.", false, true},
		{"login.faild", false, false}, {"logins.", false, false}, {"", false, true},
	} {
		if got := tenantd.IsAction(c.name); got != c.action {
			t.Errorf("IsAction(%q) = %v", c.name, got)
		}
		if got := tenantd.IsActionPrefix(c.name); got != c.pre {
			t.Errorf("IsActionPrefix(%q) = %v", c.name, got)
		}
	}
}
