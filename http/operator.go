package http

import (
	"context"
	"net/http"

	"github.com/google/uuid"

	"github.com/tenantd/tenantd"
)

// PlatformTenant is the tid of operator tokens: not a tenant. Operators are
// not tenant users; their tokens have their own audience and type, so a
// tenant route never accepts one and an operator route never accepts a
// tenant user's token.
var PlatformTenant = uuid.Max

// operatorCall is what an operator handler gets.
type operatorCall struct {
	operatorID uuid.UUID
	req        tenantd.RequestInfo
}

func (s *Server) serveOperator(w http.ResponseWriter, r *http.Request, rt Route) {
	req := requestInfo(r)
	token, _, err := extractToken(r)
	if err == nil {
		claims, verr := s.operators.Verify(token)
		switch {
		case verr != nil:
			err = unauthorized("operator token rejected: " + verr.Error())
		case claims.TenantID != PlatformTenant:
			err = unauthorized("not an operator token")
		default:
			c := &operatorCall{operatorID: claims.UserID(), req: req}
			s.identity.RecordSecurityEvent(context.WithoutCancel(r.Context()), "operator."+rt.Method+" "+rt.Pattern,
				"operator "+c.operatorID.String(), req)
			herr := checkParams(r, rt)
			if herr == nil {
				herr = rt.operator(w, r, c)
			}
			if herr != nil {
				writeError(w, r, herr)
			}
			return
		}
	}
	s.reject(w, r, nil, err)
}
