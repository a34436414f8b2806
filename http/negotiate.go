package http

import (
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/tenantd/tenantd"
)

// format is one representation a route can send: the value of its format
// query parameter and the media types an Accept header may name for it.
type format struct {
	name  string
	types []string
}

var (
	reviewFormats = []format{{"json", []string{"application/json"}}, {"csv", []string{"text/csv"}}}
	exportFormats = []format{{"jsonl", []string{"application/jsonl", "application/x-ndjson", "application/jsonlines"}},
		{"csv", []string{"text/csv"}}}
)

// chooseFormat returns the representation a request asks for: the format
// query parameter when it is given (another value is a 400), else the one
// its Accept header prefers (RFC 9110 §12.5.1: the highest q of the most
// specific range matching one of its types; ties go to the earlier
// format), else the first. An Accept that names none of them gets the
// first too: a representation the client can at least look at, rather than
// 406. The caller sends Vary: Accept.
func chooseFormat(r *http.Request, param string, formats []format) (string, error) {
	if param != "" {
		names := make([]string, len(formats))
		for i, f := range formats {
			if f.name == param {
				return param, nil
			}
			names[i] = f.name
		}
		return "", tenantd.Errorf(tenantd.EBADREQUEST, `Parameter "format" must be %s.`, strings.Join(names, " or "))
	}
	ranges := parseAccept(r.Header.Values("Accept"))
	best, bestQ := formats[0].name, 0.0
	for _, f := range formats {
		for _, t := range f.types {
			if q := acceptQ(ranges, t); q > bestQ {
				best, bestQ = f.name, q
			}
		}
	}
	return best, nil
}

// acceptRange is one media range of an Accept header.
type acceptRange struct {
	typ, sub string // "*" for wildcards
	q        float64
}

func parseAccept(headers []string) []acceptRange {
	var out []acceptRange
	for _, h := range headers {
		for _, part := range strings.Split(h, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			typ, sub, ok := strings.Cut(mt, "/")
			if !ok {
				continue
			}
			q := 1.0
			if v, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f <= 1 {
					q = f
				}
			}
			out = append(out, acceptRange{typ, sub, q})
		}
	}
	return out
}

// acceptQ is the q the ranges give media type t: that of the most specific
// range matching it, 0 when none does.
func acceptQ(ranges []acceptRange, t string) float64 {
	typ, sub, _ := strings.Cut(t, "/")
	q, specificity := 0.0, -1
	for _, r := range ranges {
		s := -1
		switch {
		case r.typ == typ && r.sub == sub:
			s = 2
		case r.typ == typ && r.sub == "*":
			s = 1
		case r.typ == "*" && r.sub == "*":
			s = 0
		}
		if s > specificity {
			q, specificity = r.q, s
		}
	}
	return q
}
