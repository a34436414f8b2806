package http

import (
	"bytes"
	_ "embed"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/tenantd/tenantd"
)

// OpenAPIDocument is the API description served at /openapi.yaml. The API
// tests validate every response they receive against it.
//
//go:embed openapi.yaml
var OpenAPIDocument []byte

// serveOpenAPI: GET /openapi.yaml, as the caller's tenant sees the API:
// without the beta routes it does not have. A caller without a tenant
// token (or with one that does not verify) sees no beta route.
func (s *Server) serveOpenAPI(w http.ResponseWriter, r *http.Request) error {
	var betas []string
	if r.Header.Get("Authorization") != "" || hasCookie(r, sessionCookie) {
		if p, _, _, err := s.authenticate(r); err == nil {
			cfg, err := s.settings.Configuration(r.Context(), scopeFor(p, requestInfo(r)))
			if err != nil {
				return err
			}
			for _, b := range tenantd.Betas {
				if cfg.HasBeta(b.Name) {
					betas = append(betas, b.Name)
				}
			}
		}
	}
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Vary", "Authorization, Cookie")
	w.Write(s.openAPIFor(betas))
	return nil
}

func hasCookie(r *http.Request, name string) bool {
	_, err := r.Cookie(name)
	return err == nil
}

// openAPIFor is the document without the path items of the beta routes
// whose beta is not in betas. A beta route's path item holds only that
// beta's operations (TestOpenAPIBetaPathsAreWholePathItems).
func (s *Server) openAPIFor(betas []string) []byte {
	sort.Strings(betas)
	key := strings.Join(betas, ",")
	if doc, ok := s.openAPIViews.Load(key); ok {
		return doc.([]byte)
	}
	hidden := map[string]bool{}
	for _, rt := range s.routes {
		if rt.Beta != "" && !slices.Contains(betas, rt.Beta) {
			hidden["  "+rt.Pattern+":"] = true
		}
	}
	var out bytes.Buffer
	skipping := false
	for _, line := range strings.SplitAfter(string(OpenAPIDocument), "\n") {
		trimmed := strings.TrimRight(line, "\n")
		if skipping && (strings.HasPrefix(trimmed, "  /") || trimmed != "" && !strings.HasPrefix(trimmed, "  ")) {
			skipping = false
		}
		if hidden[trimmed] {
			skipping = true
		}
		if !skipping {
			out.WriteString(line)
		}
	}
	doc, _ := s.openAPIViews.LoadOrStore(key, out.Bytes())
	return doc.([]byte)
}

// serveProblemDoc documents a problem type: GET /problems/{name}.
func serveProblemDoc(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	for _, t := range problemTypes {
		if t.name == name {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write([]byte(t.title + " (HTTP " + http.StatusText(t.status) + ")\n\nSee /openapi.yaml, components.schemas.Problem.\n"))
			return nil
		}
	}
	return tenantd.Errorf(tenantd.ENOTFOUND, "No such problem type.")
}
