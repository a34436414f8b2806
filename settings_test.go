package tenantd_test

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
)

var tenantID = uuid.MustParse("0b0e1b8e-5a3c-4c4e-9a55-3f1f4e4a2b10")

func patchOf(t *testing.T, settings map[string]any) (*tenantd.SettingsPatch, error) {
	t.Helper()
	b, err := json.Marshal(map[string]any{"settings": settings})
	if err != nil {
		t.Fatal(err)
	}
	return tenantd.ParseSettingsPatch(b, tenantID)
}

// Every setting, with values its rule takes (and how it stores them) and
// values it refuses.
func TestSettingsFieldRules(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	cases := []struct {
		field   string // under settings; branding's with "branding/"
		value   string
		stored  string // "" means refused
		comment string
	}{
		{"company_name", "Acme Marketing", "Acme Marketing", ""},
		{"company_name", "  Acme  ", "Acme", "trimmed"},
		{"company_name", long(200), long(200), ""},
		{"company_name", long(201), "", "too long"},
		{"company_name", "", "", "empty: null unsets"},
		{"company_name", "   ", "", "blank"},
		{"company_name", "Acme\r\nBcc: x@evil.example", "", "header injection"},
		{"company_name", "Ünïcødé GmbH", "Ünïcødé GmbH", ""},
		{"company_address", "123 Main St, SF, CA", "123 Main St, SF, CA", ""},
		{"company_address", long(500), long(500), ""},
		{"company_address", long(501), "", ""},
		{"company_address", "line\tone", "", "control character"},
		{"timezone", "America/Los_Angeles", "America/Los_Angeles", ""},
		{"timezone", "UTC", "UTC", ""},
		{"timezone", "Europe/Paris", "Europe/Paris", ""},
		{"timezone", "Asia/Kolkata", "Asia/Kolkata", ""},
		{"timezone", "Local", "", "the server's zone, not a name"},
		{"timezone", "Mars/Olympus_Mons", "", ""},
		{"timezone", "../../etc/passwd", "", ""},
		{"timezone", "/etc/localtime", "", ""},
		{"timezone", "", "", ""},
		{"timezone", "+02:00", "", "an offset is not a zone"},
		{"date_format", "MM/DD/YYYY", "MM/DD/YYYY", ""},
		{"date_format", "YYYY-MM-DD", "YYYY-MM-DD", ""},
		{"date_format", "DD.MM.YYYY", "DD.MM.YYYY", ""},
		{"date_format", "mm/dd/yyyy", "", "the list is exact"},
		{"date_format", "2006-01-02", "", "a Go layout is not a format"},
		{"date_format", "%Y-%m-%d", "", ""},
		{"email_sender_name", "Acme Team", "Acme Team", ""},
		{"email_sender_name", long(100), long(100), ""},
		{"email_sender_name", long(101), "", ""},
		{"email_sender_name", "Acme\nTeam", "", "header injection"},
		{"default_reply_to", "hello@acme.com", "hello@acme.com", ""},
		{"default_reply_to", "Hello.World+tag@sub.acme.co.uk", "Hello.World+tag@sub.acme.co.uk", "case kept"},
		{"default_reply_to", "Acme <hello@acme.com>", "", "no display name"},
		{"default_reply_to", "hello", "", ""},
		{"default_reply_to", "hello@", "", ""},
		{"default_reply_to", "a@b.c,d@e.f", "", "one address"},
		{"default_reply_to", "hello@acme.com\r\nBcc: x@evil.example", "", ""},
		{"default_reply_to", long(250) + "@a.io", "", "too long"},
		{"branding/logo_url", "https://cdn.acme.com/logo.png", "https://cdn.acme.com/logo.png", ""},
		{"branding/logo_url", "https://cdn.acme.com:8443/l.svg?v=2", "https://cdn.acme.com:8443/l.svg?v=2", ""},
		{"branding/logo_url", "http://cdn.acme.com/logo.png", "", "not https"},
		{"branding/logo_url", "javascript:alert(1)", "", ""},
		{"branding/logo_url", "data:image/png;base64,AAAA", "", ""},
		{"branding/logo_url", "https://user:pw@cdn.acme.com/logo.png", "", "credentials"},
		{"branding/logo_url", "https:///logo.png", "", "no host"},
		{"branding/logo_url", "https://127.0.0.1/logo.png", "", "an address, not a domain"},
		{"branding/logo_url", "//cdn.acme.com/logo.png", "", "relative"},
		{"branding/logo_url", "https://cdn.acme.com/a b.png", "", "space"},
		{"branding/logo_url", "https://cdn.acme.com/" + long(2030), "", "too long"},
		{"branding/primary_color", "#007bff", "#007bff", ""},
		{"branding/primary_color", "#007BFF", "#007bff", "lower-cased"},
		{"branding/primary_color", "#07f", "", "short form"},
		{"branding/primary_color", "007bff", "", ""},
		{"branding/primary_color", "#007bfg", "", ""},
		{"branding/primary_color", "blue", "", ""},
		{"branding/primary_color", "#007bff00", "", "alpha"},
		{"branding/custom_domain", "mail.acme.com", "mail.acme.com", ""},
		{"branding/custom_domain", "Mail.Acme.COM", "mail.acme.com", "lower-cased"},
		{"branding/custom_domain", "xn--bcher-kva.example", "xn--bcher-kva.example", "punycode"},
		{"branding/custom_domain", "localhost", "", "one label"},
		{"branding/custom_domain", "mail.acme.com.", "", "trailing dot"},
		{"branding/custom_domain", "-mail.acme.com", "", ""},
		{"branding/custom_domain", "mail_acme.com", "", ""},
		{"branding/custom_domain", "10.0.0.1", "", "an address"},
		{"branding/custom_domain", "https://mail.acme.com", "", "a URL"},
		{"branding/custom_domain", long(64) + ".com", "", "label too long"},
		{"branding/custom_domain", strings.Repeat("abcdefghi.", 26) + "com", "", "name too long"},
	}
	for _, c := range cases {
		settings := map[string]any{c.field: c.value}
		if b, f, ok := strings.Cut(c.field, "/"); ok {
			settings = map[string]any{b: map[string]any{f: c.value}}
		}
		p, err := patchOf(t, settings)
		pointer := "/settings/" + c.field
		if c.stored == "" {
			e, ok := tenantd.AsError(err)
			if !ok || e.Code != tenantd.EINVALID || len(e.Fields) != 1 || e.Fields[0].Pointer != pointer {
				t.Errorf("%s = %.60q (%s): %v, want EINVALID at %s", c.field, c.value, c.comment, err, pointer)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s = %.60q (%s): %v", c.field, c.value, c.comment, err)
			continue
		}
		if got := p.Set[pointer]; got == nil || *got != c.stored {
			t.Errorf("%s = %.60q stores %v, want %q", c.field, c.value, got, c.stored)
		}
		if v := (tenantd.SettingsValues{}).Apply(p); v.Validate() != nil {
			t.Errorf("%s = %.60q: the stored value fails Validate: %v", c.field, c.value, v.Validate())
		}
	}
}

// RFC 7396: members replace, null removes, nested objects merge; anything
// the document does not have is refused, every bad member listed.
func TestSettingsMergePatch(t *testing.T) {
	s := func(v string) *string { return &v }
	stored := tenantd.StoredSettings{
		TenantID: tenantID, TenantName: "Acme Inc",
		Values: tenantd.SettingsValues{CompanyName: s("Acme Marketing"), Timezone: s("Europe/Paris"),
			LogoURL: s("https://cdn.acme.com/a.png"), PrimaryColor: s("#112233")},
	}
	body := `{"tenant_id": "` + tenantID.String() + `", "settings": {
		"company_name": null,
		"timezone": "America/New_York",
		"branding": {"primary_color": "#AABBCC", "custom_domain": "mail.acme.com"}}}`
	p, err := tenantd.ParseSettingsPatch([]byte(body), tenantID)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Branding || p.Limits {
		t.Errorf("patch flags: branding %v limits %v", p.Branding, p.Limits)
	}
	got := stored
	got.Values = stored.Values.Apply(p)
	doc := got.Document().Settings
	if doc.CompanyName != "Acme Inc" || doc.EmailSenderName != "Acme Inc" {
		t.Errorf("company_name null: %q (sender %q), want the tenant's name back", doc.CompanyName, doc.EmailSenderName)
	}
	if doc.Timezone != "America/New_York" || doc.DateFormat != tenantd.DefaultDateFormat {
		t.Errorf("timezone %q date_format %q", doc.Timezone, doc.DateFormat)
	}
	if b := doc.Branding; b.LogoURL == nil || *b.LogoURL != "https://cdn.acme.com/a.png" ||
		*b.PrimaryColor != "#aabbcc" || *b.CustomDomain != "mail.acme.com" {
		t.Errorf("branding merged into %+v", b)
	}
	if doc.CompanyAddress != nil || doc.DefaultReplyTo != nil {
		t.Errorf("unset optional settings: %v %v", doc.CompanyAddress, doc.DefaultReplyTo)
	}

	// branding: null unsets every branding setting.
	p, err = tenantd.ParseSettingsPatch([]byte(`{"settings": {"branding": null}}`), tenantID)
	if err != nil {
		t.Fatal(err)
	}
	if v := stored.Values.Apply(p); v.LogoURL != nil || v.PrimaryColor != nil || v.CustomDomain != nil || v.Timezone == nil {
		t.Errorf("branding null: %+v", v)
	}
	// An empty patch changes nothing.
	for _, empty := range []string{`{}`, `{"settings": {}}`, `{"settings": {"branding": {}}}`} {
		p, err := tenantd.ParseSettingsPatch([]byte(empty), tenantID)
		if err != nil || !stored.Values.Apply(p).Equal(stored.Values) {
			t.Errorf("%s: %v", empty, err)
		}
	}

	// limits: flagged by the parser, whatever else the patch holds.
	for _, body := range []string{`{"settings": {"limits": {"max_users": 1000}}}`, `{"settings": {"limits": null}}`,
		`{"settings": {"limits": {}, "timezone": "nowhere", "x": 1}}`} {
		p, err := tenantd.ParseSettingsPatch([]byte(body), tenantID)
		if err != nil || !p.Limits {
			t.Errorf("%s: %+v %v, want Limits", body, p, err)
		}
	}

	// Every bad member is listed at once, as a JSON pointer.
	_, err = tenantd.ParseSettingsPatch([]byte(`{
		"tenant_id": "`+uuid.NewString()+`", "colour": "red",
		"settings": {"timezone": "Nowhere/Special", "date_format": 5, "company_name": {"a": 1},
		             "company_nmae": "typo", "a/b~c": 1,
		             "branding": {"primary_color": "red", "logo": "https://x.io/l.png", "custom_domain": "ok.example"}}}`), tenantID)
	e, ok := tenantd.AsError(err)
	if !ok || e.Code != tenantd.EINVALID {
		t.Fatalf("bad patch: %v", err)
	}
	var pointers []string
	for _, f := range e.Fields {
		pointers = append(pointers, f.Pointer)
	}
	sort.Strings(pointers)
	want := []string{"/colour", "/settings/a~1b~0c", "/settings/branding/logo", "/settings/branding/primary_color",
		"/settings/company_name", "/settings/company_nmae", "/settings/date_format", "/settings/timezone", "/tenant_id"}
	if !reflect.DeepEqual(pointers, want) {
		t.Errorf("pointers %v\nwant     %v", pointers, want)
	}

	for _, body := range []string{`[]`, `null`, `"settings"`, `{"settings": null}`, `{"settings": []}`,
		`{"settings": {"branding": "none"}}`, `{"settings": {"branding": {"custom_domain": 1}}}`} {
		if _, err := tenantd.ParseSettingsPatch([]byte(body), tenantID); tenantd.ErrorCode(err) != tenantd.EINVALID {
			t.Errorf("%s: %v, want EINVALID", body, err)
		}
	}
}

// FuzzSettingsPatch: no body makes the parser panic; what it accepts
// applies to values that pass Validate, and names only known settings.
func FuzzSettingsPatch(f *testing.F) {
	for _, seed := range []string{
		`{"settings": {"timezone": "Europe/Paris"}}`,
		`{"settings": {"company_name": null, "branding": {"logo_url": "https://a.io/l.png"}}}`,
		`{"settings": {"branding": null}}`,
		`{"settings": {"limits": {"max_users": 1}}}`,
		`{"tenant_id": "` + tenantID.String() + `", "settings": {"date_format": "DD.MM.YYYY"}}`,
		`{"settings": {"branding": {"custom_domain": "MAIL.ACME.COM", "primary_color": "#ABCDEF"}}}`,
		`{"settings": {"default_reply_to": "\"q\"@a.io", "company_address": "  x  "}}`,
		`{"settings": {"timezone": "Local"}}`,
		`{"a/b": {"~": null}}`,
		`{"settings": {"email_sender_name": "\u2028"}}`,
		`[1, 2]`, `{`, ``, `{"settings": {"settings": {}}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := tenantd.ParseSettingsPatch(body, tenantID)
		if err != nil {
			if e, ok := tenantd.AsError(err); !ok || e.Code != tenantd.EINVALID || len(e.Fields) == 0 {
				t.Fatalf("%q: %v is not EINVALID with fields", body, err)
			}
			return
		}
		if p.Limits {
			return
		}
		v := (tenantd.SettingsValues{}).Apply(p)
		if err := v.Validate(); err != nil {
			t.Fatalf("%q: accepted, then %v", body, err)
		}
		if len(p.Set) > 9 {
			t.Fatalf("%q: sets %d settings", body, len(p.Set))
		}
		doc := tenantd.StoredSettings{TenantID: tenantID, TenantName: "T", Values: v}.Document()
		if _, err := json.Marshal(doc); err != nil {
			t.Fatal(err)
		}
	})
}
