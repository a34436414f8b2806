package tenantd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"
	_ "time/tzdata" // every time zone the validator accepts loads on any machine
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// TenantSettings is the settings document of GET and PATCH
// /v1/tenant/settings: the tenant's own settings, with defaults for those
// it has not set, and its effective limits (read-only to the tenant).
type TenantSettings struct {
	TenantID uuid.UUID `json:"tenant_id"`
	Settings Settings  `json:"settings"`
}

// Settings are a tenant's settings. The optional ones are null when unset.
type Settings struct {
	CompanyName     string   `json:"company_name"`
	CompanyAddress  *string  `json:"company_address"`
	Timezone        string   `json:"timezone"`
	DateFormat      string   `json:"date_format"`
	EmailSenderName string   `json:"email_sender_name"`
	DefaultReplyTo  *string  `json:"default_reply_to"`
	Branding        Branding `json:"branding"`
	// Limits are the plan's, or an operator's override: only operators
	// change them.
	Limits Limits `json:"limits"`
}

// Branding is how the tenant's console and emails look; only tenants with
// the custom_branding feature may set it.
type Branding struct {
	LogoURL      *string `json:"logo_url"`
	PrimaryColor *string `json:"primary_color"`
	CustomDomain *string `json:"custom_domain"`
}

// SettingsValues are the settings a tenant has set. A nil field is unset:
// the document shows its default (SettingsDefaults).
type SettingsValues struct {
	CompanyName     *string
	CompanyAddress  *string
	Timezone        *string
	DateFormat      *string
	EmailSenderName *string
	DefaultReplyTo  *string
	LogoURL         *string
	PrimaryColor    *string
	CustomDomain    *string
}

// The defaults of the settings a tenant has not set. company_name defaults
// to the tenant's name, email_sender_name to the company name; the others
// are null.
const (
	DefaultTimezone   = "UTC"
	DefaultDateFormat = "YYYY-MM-DD"
)

// DateFormats are the date formats a tenant may choose, each with the Go
// layout that renders it.
var DateFormats = []struct{ Format, Layout string }{
	{"YYYY-MM-DD", "2006-01-02"}, // ISO 8601
	{"MM/DD/YYYY", "01/02/2006"}, // United States
	{"DD/MM/YYYY", "02/01/2006"}, // United Kingdom, much of Europe and Latin America
	{"DD.MM.YYYY", "02.01.2006"}, // Germany, Switzerland, Russia
	{"DD-MM-YYYY", "02-01-2006"}, // Netherlands, India
	{"YYYY/MM/DD", "2006/01/02"}, // Japan, China
}

// StoredSettings is what the settings document is made of: the tenant's
// values, its name (company_name's default) and its configuration (the
// limits, and whether it may brand).
type StoredSettings struct {
	TenantID   uuid.UUID
	TenantName string
	Values     SettingsValues
	Config     Configuration
}

// Document is the settings document, defaults filled in.
func (st StoredSettings) Document() TenantSettings {
	v := st.Values
	s := Settings{
		CompanyName:    or(v.CompanyName, st.TenantName),
		CompanyAddress: v.CompanyAddress,
		Timezone:       or(v.Timezone, DefaultTimezone),
		DateFormat:     or(v.DateFormat, DefaultDateFormat),
		DefaultReplyTo: v.DefaultReplyTo,
		Branding:       Branding{LogoURL: v.LogoURL, PrimaryColor: v.PrimaryColor, CustomDomain: v.CustomDomain},
		Limits:         st.Config.Limits,
	}
	s.EmailSenderName = or(v.EmailSenderName, s.CompanyName)
	return TenantSettings{TenantID: st.TenantID, Settings: s}
}

func or(v *string, def string) string {
	if v != nil {
		return *v
	}
	return def
}

// settingsField is one setting a patch may name: its JSON pointer in the
// document, where it is kept, and its rule (which may normalise the value).
type settingsField struct {
	pointer string
	value   func(*SettingsValues) **string
	check   func(string) (string, error)
}

var settingsFields = []settingsField{
	{"/settings/company_name", func(v *SettingsValues) **string { return &v.CompanyName }, text(200)},
	{"/settings/company_address", func(v *SettingsValues) **string { return &v.CompanyAddress }, text(500)},
	{"/settings/timezone", func(v *SettingsValues) **string { return &v.Timezone }, timezone},
	{"/settings/date_format", func(v *SettingsValues) **string { return &v.DateFormat }, dateFormat},
	{"/settings/email_sender_name", func(v *SettingsValues) **string { return &v.EmailSenderName }, text(100)},
	{"/settings/default_reply_to", func(v *SettingsValues) **string { return &v.DefaultReplyTo }, address},
	{"/settings/branding/logo_url", func(v *SettingsValues) **string { return &v.LogoURL }, httpsURL},
	{"/settings/branding/primary_color", func(v *SettingsValues) **string { return &v.PrimaryColor }, color},
	{"/settings/branding/custom_domain", func(v *SettingsValues) **string { return &v.CustomDomain }, dnsName},
}

// SettingsPatch is a JSON merge patch (RFC 7396) of the settings document,
// checked: ParseSettingsPatch makes one only of a valid patch.
type SettingsPatch struct {
	// Set maps the JSON pointer of each setting the patch names
	// ("/settings/timezone", "/settings/branding/logo_url") to its new
	// value; nil unsets it (its default comes back).
	Set map[string]*string
	// Limits: the patch names settings.limits, which only operators
	// change. The caller refuses it (403) before anything else.
	Limits bool
	// Branding: the patch names settings.branding, which needs the
	// custom_branding feature.
	Branding bool
}

// ParseSettingsPatch reads a merge patch of tenant's settings document.
// The whole patch is checked before anything is applied: EINVALID lists
// every bad member by JSON pointer (an unknown member, a value of the wrong
// type, a value its rule refuses), so nothing is stored unless all of it
// is good. A patch naming limits is returned with Limits set (and is
// otherwise not checked).
func ParseSettingsPatch(body []byte, tenant uuid.UUID) (*SettingsPatch, error) {
	var fields []FieldError
	bad := func(pointer, detail string) { fields = append(fields, FieldError{Pointer: pointer, Detail: detail}) }
	root, ok := object(body)
	if !ok {
		return nil, Invalid(FieldError{Pointer: "", Detail: "must be a JSON object (a merge patch of the settings document)"})
	}
	p := &SettingsPatch{Set: map[string]*string{}}
	for _, k := range sortedKeys(root) {
		switch k {
		case "tenant_id":
			var id uuid.UUID
			if json.Unmarshal(root[k], &id) != nil || id != tenant {
				bad("/tenant_id", "is the tenant's id and cannot change")
			}
		case "settings":
			settings, ok := object(root[k])
			if !ok {
				bad("/settings", "must be an object of the settings to change")
				continue
			}
			if _, ok := settings["limits"]; ok {
				return &SettingsPatch{Limits: true}, nil
			}
			p.parseMembers("/settings", settings, bad)
		default:
			bad("/"+escapePointer(clipName(k)), "is not a member of the settings document")
		}
	}
	return p, Invalid(fields...)
}

// parseMembers reads the members of the object at pointer (settings or
// branding) into the patch.
func (p *SettingsPatch) parseMembers(pointer string, members map[string]json.RawMessage, bad func(pointer, detail string)) {
	for _, k := range sortedKeys(members) {
		at := pointer + "/" + escapePointer(clipName(k))
		raw := members[k]
		if at == "/settings/branding" {
			p.Branding = true
			if isNull(raw) {
				for _, f := range settingsFields {
					if strings.HasPrefix(f.pointer, at+"/") {
						p.Set[f.pointer] = nil
					}
				}
				continue
			}
			branding, ok := object(raw)
			if !ok {
				bad(at, "must be an object, or null to unset every branding setting")
				continue
			}
			p.parseMembers(at, branding, bad)
			continue
		}
		f, ok := settingsField{}, false
		for _, sf := range settingsFields {
			if sf.pointer == at {
				f, ok = sf, true
			}
		}
		if !ok {
			bad(at, "is not a setting")
			continue
		}
		if isNull(raw) {
			p.Set[at] = nil
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			bad(at, "must be a string, or null to unset it")
			continue
		}
		v, err := f.check(s)
		if err != nil {
			bad(at, err.Error())
			continue
		}
		p.Set[at] = &v
	}
}

// Apply returns the values with the patch applied.
func (v SettingsValues) Apply(p *SettingsPatch) SettingsValues {
	for _, f := range settingsFields {
		if nv, ok := p.Set[f.pointer]; ok {
			*f.value(&v) = nv
		}
	}
	return v
}

// Equal reports whether two sets of values are the same.
func (v SettingsValues) Equal(w SettingsValues) bool {
	for _, f := range settingsFields {
		a, b := *f.value(&v), *f.value(&w)
		if (a == nil) != (b == nil) || a != nil && *a != *b {
			return false
		}
	}
	return true
}

// Validate checks every value that is set: EINVALID listing each bad one.
// Values stored through a SettingsPatch always pass.
func (v SettingsValues) Validate() error {
	var fields []FieldError
	for _, f := range settingsFields {
		if s := *f.value(&v); s != nil {
			if got, err := f.check(*s); err != nil {
				fields = append(fields, FieldError{Pointer: f.pointer, Detail: err.Error()})
			} else if got != *s {
				fields = append(fields, FieldError{Pointer: f.pointer, Detail: "is not in its normal form"})
			}
		}
	}
	return Invalid(fields...)
}

// The rules of the settings. Each returns the value to store (normalised)
// or why it is refused.

// text is a single line of 1 to max characters, without leading or
// trailing space; it goes into email headers, so no control character
// (CR, LF) may pass.
func text(max int) func(string) (string, error) {
	return func(s string) (string, error) {
		if !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0 {
			return "", fmt.Errorf("must be one line of text without control characters")
		}
		s = strings.TrimSpace(s)
		if n := utf8.RuneCountInString(s); n < 1 || n > max {
			return "", fmt.Errorf("must be 1 to %d characters (null unsets it)", max)
		}
		return s, nil
	}
}

// timezone is an IANA time zone name ("America/Los_Angeles", "UTC") that
// the server can load: the binary carries the time zone database.
func timezone(s string) (string, error) {
	bad := fmt.Errorf("must be an IANA time zone name such as America/Los_Angeles or UTC")
	if s == "" || s == "Local" || len(s) > 64 || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", bad
	}
	loc, err := time.LoadLocation(s)
	if err != nil || loc.String() != s {
		return "", bad
	}
	return s, nil
}

func dateFormat(s string) (string, error) {
	var names []string
	for _, f := range DateFormats {
		if f.Format == s {
			return s, nil
		}
		names = append(names, f.Format)
	}
	return "", fmt.Errorf("must be one of %s", strings.Join(names, ", "))
}

// address is an RFC 5322 address without a display name.
func address(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s || len(s) > 254 {
		return "", fmt.Errorf("must be an email address such as hello@example.com")
	}
	return s, nil
}

// httpsURL is an absolute https URL with a host, without credentials, of
// at most 2048 characters.
func httpsURL(s string) (string, error) {
	bad := fmt.Errorf("must be an https URL of at most 2048 characters")
	if len(s) > 2048 || strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return "", bad
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Opaque != "" || u.User != nil || u.Hostname() == "" {
		return "", bad
	}
	if _, err := dnsName(strings.ToLower(u.Hostname())); err != nil {
		return "", fmt.Errorf("must be an https URL whose host is a domain name")
	}
	return s, nil
}

var colorPattern = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// color is a #rrggbb colour, stored in lower case.
func color(s string) (string, error) {
	if !colorPattern.MatchString(s) {
		return "", fmt.Errorf("must be a colour #rrggbb such as #007bff")
	}
	return strings.ToLower(s), nil
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// dnsName is a fully qualified domain name of at least two labels
// (mail.example.com), stored in lower case, without a trailing dot; its
// last label is not all digits (not an IP address).
func dnsName(s string) (string, error) {
	bad := fmt.Errorf("must be a domain name such as mail.example.com")
	s = strings.ToLower(s)
	if len(s) > 253 {
		return "", bad
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return "", bad
	}
	for _, l := range labels {
		if !dnsLabel.MatchString(l) {
			return "", bad
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "", bad
	}
	return s, nil
}

// object decodes a JSON object's members; false for anything else.
func object(raw []byte) (map[string]json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	var m map[string]json.RawMessage
	return m, json.Unmarshal(raw, &m) == nil && m != nil
}

// escapePointer escapes a member name for a JSON pointer (RFC 6901).
func escapePointer(name string) string {
	return strings.ReplaceAll(strings.ReplaceAll(name, "~", "~0"), "/", "~1")
}

// clipName shortens a name a client chose for an error message (which is
// also stored in the request's audit event).
func clipName(s string) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) > 40 {
		s = strings.ToValidUTF8(s[:40], "") + "…"
	}
	return s
}

// SettingsService is the tenant's settings, for its owners and admins (the
// handler checks; the settings table's policies check again). Errors:
// ENOTFOUND when the tenant has no settings row (never, once provisioned).
type SettingsService interface {
	// Get reads the settings and what their document depends on: one
	// round trip.
	Get(ctx context.Context, s Scope) (*StoredSettings, error)
	// Update applies a checked patch under the settings row's lock.
	// check sees the current settings under that lock first (the If-Match
	// precondition, the custom_branding feature) and refuses by returning
	// an error: nothing is written then. A patch that changes nothing
	// writes nothing; a change is one settings.updated audit event with
	// the old and new value of every setting it changed.
	Update(ctx context.Context, s Scope, p *SettingsPatch, check func(StoredSettings) error) (*StoredSettings, error)
	// Configuration reads the tenant's plan, limits and features.
	Configuration(ctx context.Context, s Scope) (*Configuration, error)
}
