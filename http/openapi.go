package http

import (
	_ "embed"
	"net/http"

	"github.com/tenantd/tenantd"
)

// OpenAPIDocument is the API description served at /openapi.yaml. The API
// tests validate every response they receive against it.
//
//go:embed openapi.yaml
var OpenAPIDocument []byte

func serveOpenAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(OpenAPIDocument)
	return nil
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
