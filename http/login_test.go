package http_test

import (
	nethttp "net/http"
	"strings"
	"testing"
)

// The owner's login must survive an attack on their account: throttling
// counts per client and account, so an attacker's failures from one address
// never refuse the owner's correct password from another address, nor from
// a device the owner logged in from before (even at the attacker's address).
func TestAttackOnAnAccountDoesNotLockItsOwnerOut(t *testing.T) {
	t.Parallel()
	a := newApp(t, behindProxy, slowBackoff)
	acme := a.newTenant("pro")
	const attacker, home, office = "203.0.113.66", "198.51.100.7", "192.0.2.10"
	right := map[string]any{"tenant": acme.Slug, "email": acme.Email, "password": password + acme.Slug}
	wrong := map[string]any{"tenant": acme.Slug, "email": acme.Email, "password": "wrong-password-123"}

	first := a.do("POST", "/v1/auth/login", "", right, from(home)...)
	device := deviceCookie(first)
	if first.Status != 200 || device == nil {
		t.Fatalf("the owner's first login: %d, device cookie %v", first.Status, first.Header.Values("Set-Cookie"))
	}
	if !device.HttpOnly || device.Path != "/v1/auth/login" || device.MaxAge <= 0 || device.Secure {
		t.Fatalf("device cookie %+v: want HttpOnly, only for the login route, with an expiry, not Secure on loopback", device)
	}

	statuses := map[int]int{}
	for range 40 {
		statuses[a.do("POST", "/v1/auth/login", "", wrong, from(attacker)...).Status]++
	}
	if statuses[429] == 0 || statuses[401]+statuses[429] != 40 {
		t.Fatalf("the attacker's 40 wrong passwords answered %v, want 401s then 429s", statuses)
	}
	if res := a.do("POST", "/v1/auth/login", "", right, from(office)...); res.Status != 200 {
		t.Fatalf("the owner at another address during the attack: %d %s", res.Status, res.Body)
	}
	withDevice := append(from(attacker), "Cookie", device.Name+"="+device.Value)
	if res := a.do("POST", "/v1/auth/login", "", right, withDevice...); res.Status != 200 {
		t.Fatalf("the owner's known device at the attacker's address: %d %s", res.Status, res.Body)
	}
	if res := a.do("POST", "/v1/auth/login", "", right, from(attacker)...); res.Status != 429 {
		t.Fatalf("the attacker's address without the device: %d, want 429", res.Status)
	}
}

// deviceCookie is the device cookie a login response set, if any.
func deviceCookie(res *response) *nethttp.Cookie {
	for _, c := range (&nethttp.Response{Header: res.Header}).Cookies() {
		if strings.HasPrefix(c.Name, "tenantd_device_") {
			return c
		}
	}
	return nil
}
