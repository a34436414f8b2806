package auth

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DeviceTTL is how long a device stays known after its last successful
// login: each success issues a fresh cookie.
const DeviceTTL = 90 * 24 * time.Hour

// DeviceCookies issues and checks device cookies: proof that a client
// logged in to one account before. The login throttle counts a known
// device's failures on its own, so an attack on the account from elsewhere
// does not lock its owner out (OWASP's "device cookies").
//
// A cookie is bound to the tenant (its slug, which never changes) and the
// email it logged in with, so a login can be checked before the tenant is
// looked up, and signed with HMAC-SHA256 under a key derived from the master key (HKDF),
// so every instance accepts every other's cookies and the database never
// sees the key. Layout: d1.<device id>.<expiry, Unix seconds>.<MAC>.
type DeviceCookies struct {
	key []byte
}

// NewDeviceCookies derives the device cookie key from the master key.
func NewDeviceCookies(master []byte) (*DeviceCookies, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("%w: master key is %d bytes, want %d", ErrConfig, len(master), MasterKeySize)
	}
	key, err := hkdf.Key(sha256.New, master, nil, "tenantd device cookie v1", 32)
	if err != nil {
		return nil, err
	}
	return &DeviceCookies{key: key}, nil
}

// Name is the cookie's name for one account: one cookie per account, so a
// browser used for several accounts knows each. The name reveals neither.
func (d *DeviceCookies) Name(tenant, email string) string {
	return "tenantd_device_" + hex.EncodeToString(d.mac("name", tenant, email)[:8])
}

// Issue returns a new device cookie value for the account, valid until
// expires.
func (d *DeviceCookies) Issue(tenant, email string, now time.Time) (value string, expires time.Time) {
	id := make([]byte, 16)
	rand.Read(id)
	expires = now.Add(DeviceTTL).Truncate(time.Second)
	body := "d1." + base64.RawURLEncoding.EncodeToString(id) + "." + strconv.FormatInt(expires.Unix(), 10)
	return body + "." + base64.RawURLEncoding.EncodeToString(d.mac("cookie", tenant, email, body)), expires
}

// Verify returns the device id of a cookie value issued for this account
// and not yet expired; ok is false for anything else.
func (d *DeviceCookies) Verify(tenant, email, value string, now time.Time) (id string, ok bool) {
	if len(value) > 200 {
		return "", false
	}
	i := strings.LastIndexByte(value, '.')
	if i < 0 {
		return "", false
	}
	body := value[:i]
	mac, err := base64.RawURLEncoding.DecodeString(value[i+1:])
	if err != nil || !hmac.Equal(mac, d.mac("cookie", tenant, email, body)) {
		return "", false
	}
	parts := strings.Split(body, ".")
	if len(parts) != 3 || parts[0] != "d1" {
		return "", false
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || !now.Before(time.Unix(exp, 0)) {
		return "", false
	}
	return parts[1], true
}

// mac is HMAC-SHA256 over the parts, each length-prefixed so that no two
// different lists of parts sign the same bytes.
func (d *DeviceCookies) mac(parts ...string) []byte {
	h := hmac.New(sha256.New, d.key)
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s", len(p), p)
	}
	return h.Sum(nil)
}
