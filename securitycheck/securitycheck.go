// Package securitycheck runs tenantd's regular security audits inside the
// server, at start and on a schedule: the isolation check of the live
// catalog (what `tenantd verify-isolation` reports) and the verification of
// every tenant's audit hash chain (what `tenantd audit verify` reports).
//
// Each outcome is exported as metrics and kept for /readyz. A failure is
// logged at error level and recorded as a platform security event, which the
// platform's security view (GET /v1/admin/security-events) lists.
package securitycheck

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tenantd/tenantd"
	"github.com/tenantd/tenantd/postgres"
)

// The checks, by the name their metrics, readiness detail and security
// events carry.
const (
	Isolation   = "isolation"
	AuditChains = "audit_chains"
)

var checkNames = []string{Isolation, AuditChains}

// The states of a check.
const (
	StatePending = "pending" // not run yet
	StateOK      = "ok"
	StateFailed  = "failed" // it ran and found problems
	StateError   = "error"  // it could not run (the database refused, say)
)

// EventAction prefixes the action of the security event a failed check
// records: "security_check.isolation", "security_check.audit_chains".
const EventAction = "security_check."

// Status is the latest outcome of one check.
type Status struct {
	Check   string
	State   string
	LastRun time.Time // when the latest run ended; zero while pending
	// Problems are what failed (findings, broken chains, or the error);
	// for logs and the security view, never for anonymous callers.
	Problems []string
}

// Checker runs the checks against one database.
type Checker struct {
	db           *postgres.DB
	verifyChains func(context.Context) ([]postgres.VerifyResult, error)
	log          *slog.Logger
	now          func() time.Time

	lastRun  *prometheus.GaugeVec
	ok       *prometheus.GaugeVec
	problems *prometheus.GaugeVec
	failures *prometheus.CounterVec

	mu     sync.Mutex
	status map[string]Status
}

// Options configure a Checker.
type Options struct {
	// VerifyChains verifies every tenant's audit chain, e.g. against the
	// signed checkpoints kept outside the database (checkpoint.Auditor's
	// Verify); nil verifies the chains by themselves (VerifyAllAuditChains).
	VerifyChains func(context.Context) ([]postgres.VerifyResult, error)
	// Registry receives the metrics; nil: a registry of the Checker's own.
	Registry prometheus.Registerer
	// Logger receives the outcomes; nil discards them.
	Logger *slog.Logger
}

// New returns a Checker of db.
func New(db *postgres.DB, o Options) *Checker {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	if o.VerifyChains == nil {
		o.VerifyChains = db.VerifyAllAuditChains
	}
	c := &Checker{
		db: db, verifyChains: o.VerifyChains, log: o.Logger, now: time.Now,
		lastRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tenantd_security_check_last_run_timestamp_seconds",
			Help: "When each regular security check last ran (Unix time).",
		}, []string{"check"}),
		ok: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tenantd_security_check_ok",
			Help: "1 if the latest run of the security check passed, 0 if it failed or could not run (or has not run).",
		}, []string{"check"}),
		problems: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tenantd_security_check_problems",
			Help: "Problems the latest run of the security check found (isolation findings, broken audit chains).",
		}, []string{"check"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tenantd_security_check_failures_total",
			Help: "Runs of the security check that failed or could not run.",
		}, []string{"check"}),
		status: map[string]Status{},
	}
	for _, name := range checkNames {
		c.ok.WithLabelValues(name).Set(0)
		c.problems.WithLabelValues(name).Set(0)
		c.failures.WithLabelValues(name)
		c.status[name] = Status{Check: name, State: StatePending}
	}
	o.Registry.MustRegister(c.lastRun, c.ok, c.problems, c.failures)
	return c
}

// Run runs the checks at once, then every interval until ctx is done (only
// once if interval <= 0). Runs never overlap: the next one starts an
// interval after the previous one ended.
func (c *Checker) Run(ctx context.Context, interval time.Duration) {
	for {
		c.RunOnce(ctx)
		if interval <= 0 {
			return
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// RunOnce runs every check once and returns their outcomes.
func (c *Checker) RunOnce(ctx context.Context) []Status {
	out := make([]Status, 0, len(checkNames))
	for _, name := range checkNames {
		var problems []string
		var err error
		switch name {
		case Isolation:
			problems, err = c.isolation(ctx)
		case AuditChains:
			problems, err = c.auditChains(ctx)
		}
		if ctx.Err() != nil {
			return out // shutting down: an interrupted check is no verdict
		}
		out = append(out, c.record(ctx, name, problems, err))
	}
	return out
}

// Statuses returns the latest outcome of each check.
func (c *Checker) Statuses() []Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Status, 0, len(checkNames))
	for _, name := range checkNames {
		out = append(out, c.status[name])
	}
	return out
}

func (c *Checker) isolation(ctx context.Context) ([]string, error) {
	findings, err := c.db.VerifyIsolation(ctx)
	if err != nil {
		return nil, err
	}
	problems := make([]string, 0, len(findings))
	for _, f := range findings {
		problems = append(problems, f.String())
	}
	return problems, nil
}

func (c *Checker) auditChains(ctx context.Context) ([]string, error) {
	results, err := c.verifyChains(ctx)
	if err != nil {
		return nil, err
	}
	var problems []string
	for _, r := range results {
		if r.OK {
			continue
		}
		p := fmt.Sprintf("tenant %s (%s): %s", r.Slug, r.TenantID, r.Problem)
		if r.BrokenSeq > 0 {
			p = fmt.Sprintf("tenant %s (%s): first broken event is seq %d: %s", r.Slug, r.TenantID, r.BrokenSeq, r.Problem)
		}
		problems = append(problems, p)
	}
	return problems, nil
}

// record keeps, exports and reports the outcome of one run.
func (c *Checker) record(ctx context.Context, name string, problems []string, err error) Status {
	st := Status{Check: name, State: StateOK, LastRun: c.now(), Problems: problems}
	switch {
	case err != nil:
		st.State, st.Problems = StateError, []string{"could not run: " + err.Error()}
	case len(problems) > 0:
		st.State = StateFailed
	}
	c.mu.Lock()
	c.status[name] = st
	c.mu.Unlock()

	c.lastRun.WithLabelValues(name).Set(float64(st.LastRun.UnixMilli()) / 1000)
	c.problems.WithLabelValues(name).Set(float64(len(problems)))
	if st.State == StateOK {
		c.ok.WithLabelValues(name).Set(1)
		c.log.Info("security check passed", "check", name)
		return st
	}
	c.ok.WithLabelValues(name).Set(0)
	c.failures.WithLabelValues(name).Inc()
	c.log.Error("security check "+st.State, "check", name, "problems", st.Problems)
	reason := fmt.Sprintf("%s: %s", st.State, strings.Join(st.Problems, "; "))
	if len(problems) > 0 {
		reason = fmt.Sprintf("%d problem(s): %s", len(problems), strings.Join(problems, "; "))
	}
	// Best effort: when the database is down, so is the security view, and
	// the log above is what remains.
	if err := c.db.Identity().RecordSecurityEvent(context.WithoutCancel(ctx), EventAction+name, reason,
		tenantd.RequestInfo{ID: "security-check"}); err != nil {
		c.log.Error("recording the failed security check in the security view", "check", name, "err", err)
	}
	return st
}
