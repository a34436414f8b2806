package auth_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tenantd/tenantd/auth"
)

func TestDeviceCookies(t *testing.T) {
	t.Parallel()
	master := make([]byte, auth.MasterKeySize)
	d, err := auth.NewDeviceCookies(master)
	if err != nil {
		t.Fatal(err)
	}
	tenant, other := "acme", "globex"
	now := time.Now()
	v, exp := d.Issue(tenant, "alice@example.com", now)
	if exp.Sub(now) < auth.DeviceTTL-time.Second {
		t.Fatalf("expires %v, want about %v from now", exp, auth.DeviceTTL)
	}
	id, ok := d.Verify(tenant, "alice@example.com", v, now)
	if !ok || id == "" {
		t.Fatalf("own cookie refused: %q", v)
	}
	if v2, _ := d.Issue(tenant, "alice@example.com", now); v2 == v {
		t.Fatal("two cookies are equal")
	}

	tampered := []byte(v)
	tampered[5] ^= 1
	parts := strings.Split(v, ".")
	extended := parts[0] + "." + parts[1] + ".99999999999." + parts[3]
	otherKey, _ := auth.NewDeviceCookies(append(make([]byte, auth.MasterKeySize-1), 1))
	forged, _ := otherKey.Issue(tenant, "alice@example.com", now)
	refused := map[string]func() bool{
		"another email":      func() bool { _, ok := d.Verify(tenant, "bob@example.com", v, now); return ok },
		"another tenant":     func() bool { _, ok := d.Verify(other, "alice@example.com", v, now); return ok },
		"expired":            func() bool { _, ok := d.Verify(tenant, "alice@example.com", v, exp); return ok },
		"tampered":           func() bool { _, ok := d.Verify(tenant, "alice@example.com", string(tampered), now); return ok },
		"extended expiry":    func() bool { _, ok := d.Verify(tenant, "alice@example.com", extended, now); return ok },
		"another master key": func() bool { _, ok := d.Verify(tenant, "alice@example.com", forged, now); return ok },
		"empty":              func() bool { _, ok := d.Verify(tenant, "alice@example.com", "", now); return ok },
		"garbage":            func() bool { _, ok := d.Verify(tenant, "alice@example.com", "d1...", now); return ok },
		"huge": func() bool {
			_, ok := d.Verify(tenant, "alice@example.com", strings.Repeat("a", 10000), now)
			return ok
		},
	}
	for name, verify := range refused {
		if verify() {
			t.Errorf("%s: accepted", name)
		}
	}

	if d.Name(tenant, "alice@example.com") == d.Name(tenant, "bob@example.com") ||
		d.Name(tenant, "alice@example.com") == d.Name(other, "alice@example.com") {
		t.Error("two accounts share a cookie name")
	}
	if n := d.Name(tenant, "alice@example.com"); strings.Contains(n, "alice") || strings.Contains(n, tenant) {
		t.Errorf("cookie name %q reveals the account", n)
	}
	if _, err := auth.NewDeviceCookies(master[:16]); err == nil {
		t.Error("a short master key was accepted")
	}
}
